"""``ivr flows check`` and ``ivr flows graph``: what administrators run on flow files before they go live."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..config import DEFAULT_PROMPTS_DIR

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Flow definitions: check and draw.")

def _flow_context(prompts_dir: Path):
    """What the server checks flows against: its catalog, lookups, routing queues and profile."""
    from ..server.checks import offline_context

    return offline_context(prompts_dir)


def _flow_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return files


@app.command("check")
def flows_check(
    path: list[Path] = typer.Argument(..., help="Flow files or folders."),
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir", help="Folder holding catalog.yaml."),
) -> None:
    """Validate flow files; print every error as file:line: message; exit 1 on any error."""
    from ..engine.validate import check_flows
    from ..tts.catalog import CatalogError

    started = time.perf_counter()
    try:
        ctx = _flow_context(prompts_dir)
    except (CatalogError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    flows, errors = check_flows(_flow_files(path), ctx)
    elapsed = (time.perf_counter() - started) * 1000
    for line in errors:
        typer.echo(line, err=True)
    for name, flow in flows.items():
        typer.echo(f"ok {flow.path}: flow {name!r}, {len(flow.model.nodes)} nodes, version {flow.version}")
    typer.echo(f"{len(flows)} flow(s) valid, {len(errors)} error(s) in {elapsed:.0f} ms")
    raise typer.Exit(1 if errors else 0)


@app.command("graph")
def flows_graph(
    path: Path = typer.Argument(..., help="A flow file."),
    fmt: str = typer.Option("mermaid", "--format", help="mermaid, dot or svg."),
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Draw a flow (nodes, choices, retries, routes)."""
    from ..engine.graph import to_dot, to_mermaid, to_svg
    from ..engine.validate import check_flows

    renderers = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}
    if fmt not in renderers:
        typer.echo(f"unknown format {fmt!r}: mermaid, dot or svg", err=True)
        raise typer.Exit(2)
    flows, errors = check_flows([path], _flow_context(prompts_dir))
    if errors:
        for line in errors:
            typer.echo(line, err=True)
        raise typer.Exit(1)
    text = renderers[fmt](next(iter(flows.values())).model)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
