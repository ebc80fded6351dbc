"""``ivr flows check``, ``ivr flows graph`` and ``ivr rules check``: what administrators run before going live.

The same code as a running server's reload: flows (``*.yaml`` and ``*.yml``), the prompt catalog and
the routing rules are checked together, so what passes here is what the server would serve.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..config import DEFAULT_PROMPTS_DIR, DEFAULT_RULES

if TYPE_CHECKING:
    from ..interfaces import LineProfile
    from ..server.line import LineConfig

__all__ = ["app", "rules_app"]

app = typer.Typer(no_args_is_help=True, help="Flow definitions: check and draw.")
rules_app = typer.Typer(no_args_is_help=True, help="Routing rules: check.")


def _profile() -> LineProfile:
    """The line's profile, as ``ivr serve`` takes it (``IVR_PROFILE``; the 34 00's by default)."""
    from pydantic import ValidationError

    from ..config import CheckSettings
    from ..server.line import load_profile

    try:
        return load_profile(CheckSettings().profile)
    except (ValueError, ValidationError) as exc:
        typer.echo(f"IVR_PROFILE: {exc}", err=True)
        raise typer.Exit(2) from None


def _load(paths: list[Path], prompts_dir: Path, rules: Path, asterisk: Path | None = None
          ) -> tuple[LineConfig | None, list[str]]:
    from ..server.checks import declared_lookups
    from ..server.line import LineSources, load_line

    profile = _profile()
    sources = LineSources(flows=paths, catalog=prompts_dir / "catalog.yaml", rules=rules, asterisk=asterisk)
    return load_line(sources, profile, declared_lookups(profile))


@app.command("check")
def flows_check(
    path: list[Path] = typer.Argument(..., metavar="FLOWS...", help="Flow files or folders (*.yaml, *.yml)."),
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir", metavar="DIR", help="Folder holding catalog.yaml."),
    rules: Path = typer.Option(DEFAULT_RULES, "--rules", metavar="FILE", help="Routing rules file."),
    asterisk_etc: Optional[Path] = typer.Option(
        None, "--asterisk-etc", metavar="DIR",
        help="Asterisk's configuration the flows must fit (default: the line's asterisk/etc, when there)."),
) -> None:
    """Check flows with the catalog, the routing rules and Asterisk's configuration, as a server's
    reload does; every error as file:line: message; exit 1 on any error."""
    started = time.perf_counter()
    config, errors = _load(path, prompts_dir, rules, _asterisk_etc(asterisk_etc))
    elapsed = (time.perf_counter() - started) * 1000
    for line in errors:
        typer.echo(line, err=True)
    flows = config.flows if config else {}
    warnings = config.warnings if config else []
    for line in warnings:
        typer.echo(f"warning: {line}", err=True)
    for name, flow in flows.items():
        typer.echo(f"ok {flow.path}: flow {name!r}, {len(flow.model.nodes)} nodes, version {flow.version}")
    typer.echo(f"{len(flows)} flow(s) valid, {len(errors)} error(s), {len(warnings)} warning(s) in {elapsed:.0f} ms")
    raise typer.Exit(1 if errors else 0)


@app.command("graph")
def flows_graph(
    path: Path = typer.Argument(..., metavar="FLOW_FILE", help="A flow file."),
    fmt: str = typer.Option("mermaid", "--format", metavar="mermaid|dot|svg", help="mermaid, dot or svg."),
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir", metavar="DIR"),
    rules: Path = typer.Option(DEFAULT_RULES, "--rules", metavar="FILE", help="Routing rules file."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write to this file instead of stdout."),
) -> None:
    """Draw a flow (nodes, choices, retries, routes); svg is laid out by Graphviz when installed."""
    from ..engine.graph import to_dot, to_mermaid
    from ..server.drawings import flow_svg

    renderers = {"mermaid": to_mermaid, "dot": to_dot, "svg": flow_svg}
    if fmt not in renderers:
        typer.echo(f"unknown format {fmt!r}: mermaid, dot or svg", err=True)
        raise typer.Exit(2)
    config, errors = _load([path], prompts_dir, rules)
    if config is None:
        for line in errors:
            typer.echo(line, err=True)
        raise typer.Exit(1)
    text = renderers[fmt](next(iter(config.flows.values())).model)
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _asterisk_etc(given: Path | None) -> Path | None:
    from ..asterisk_config import shipped_asterisk_etc

    return given if given is not None else shipped_asterisk_etc()


@rules_app.command("check")
def rules_check(
    path: Path = typer.Argument(DEFAULT_RULES, metavar="RULES_FILE", help="Routing rules file."),
    asterisk_etc: Optional[Path] = typer.Option(
        None, "--asterisk-etc", metavar="DIR",
        help="Asterisk's configuration whose queues the rules must use (default: the line's asterisk/etc, when there)."),
) -> None:
    """Check a routing rules file (fields, queues, the statuses it tests); file:line errors; exit 1 on any."""
    from ..asterisk_config import load_asterisk_config
    from ..routing.rules import load_rules
    from ..yamlsrc import SourceError

    etc = _asterisk_etc(asterisk_etc)
    asterisk = load_asterisk_config(etc) if etc is not None else None
    if etc is not None and asterisk is None:
        typer.echo(f"{etc}: no extensions.conf and queues.conf here (Asterisk's configuration)", err=True)
        raise typer.Exit(1)
    try:
        profile = _profile()
        rules = load_rules(path, profile.fact_types, values=profile.fact_values,
                           asterisk_queues=asterisk.queues if asterisk else None)
    except SourceError as exc:
        for line in exc.messages:
            typer.echo(line, err=True)
        typer.echo(f"{len(exc.messages)} error(s)")
        raise typer.Exit(1) from None
    typer.echo(f"ok {path}: {len(rules.rules)} rules, queues {', '.join(rules.queues)}")
