"""The ``ivr`` command."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from ..config import DEFAULT_PROMPTS_DIR, PACKAGE_DIR, load_settings
from ..logs import configure_logging

app = typer.Typer(add_completion=False, no_args_is_help=True, help="34 00 IVR server and tools.")
prompts_app = typer.Typer(no_args_is_help=True, help="Prompt catalog.")
app.add_typer(prompts_app, name="prompts")

BUNDLED_SCENARIOS = PACKAGE_DIR / "sim" / "scenarios"


@app.command()
def serve(
    config: Optional[Path] = typer.Option(None, "--config", help="YAML settings file."),
    host: Optional[str] = typer.Option(None, help="Address to listen on (IVR_HOST)."),
    agi_port: Optional[int] = typer.Option(None, "--agi-port", help="FastAGI port (IVR_AGI_PORT, 4573)."),
    audiosocket_port: Optional[int] = typer.Option(None, "--audiosocket-port", help="AudioSocket port (9092)."),
    admin_port: Optional[int] = typer.Option(None, "--admin-port", help="Admin HTTP port (8080)."),
    records: Optional[Path] = typer.Option(None, "--records", help="Call records file (JSON Lines)."),
    prompts_dir: Optional[Path] = typer.Option(None, "--prompts-dir", help="Prompt folder shared with Asterisk."),
    flows_dir: Optional[Path] = typer.Option(None, "--flows-dir", help="Flow definitions folder."),
    ami: Optional[str] = typer.Option(None, "--ami", help="AMI address HOST:PORT."),
    allow_sim_clock: bool = typer.Option(False, "--allow-sim-clock", help="Honour sim_now= AGI arguments (testing)."),
) -> None:
    """Run the IVR server (FastAGI, AudioSocket, admin HTTP)."""
    ami_host = ami_port = None
    if ami:
        ami_host, _, port_text = ami.rpartition(":")
        ami_port = int(port_text)
    try:
        settings = load_settings(
            config, host=host, agi_port=agi_port, audiosocket_port=audiosocket_port, admin_port=admin_port,
            records=records, prompts_dir=prompts_dir, flows_dir=flows_dir, ami_host=ami_host or None,
            ami_port=ami_port,
        )
    except (ValueError, OSError) as exc:
        typer.echo(f"ivr serve: {exc}", err=True)
        raise typer.Exit(2)
    configure_logging(settings.log_format, settings.log_level)
    from ..app import IvrServer

    server = IvrServer(settings, allow_sim_clock=allow_sim_clock)
    asyncio.run(server.serve_forever())


def _print_results(results, summary, as_json: bool, quiet: bool = False) -> None:
    from ..sim.runner import render_transcript

    if as_json:
        for r in results:
            print(json.dumps(r.to_json(), ensure_ascii=False))
    elif not quiet:
        for r in results:
            print(render_transcript(r))
            print()
    print(json.dumps(summary))


async def _simulate(scenarios, server: Optional[str], concurrency: int, repeat: int):
    from ..sim.runner import run_scenarios, summarise

    started = time.monotonic()
    if server:
        host, _, port = server.rpartition(":")
        results = await run_scenarios(scenarios, host or "127.0.0.1", int(port), concurrency=concurrency, repeat=repeat)
    else:
        from .embedded import embedded_server

        async with embedded_server() as srv:
            results = await run_scenarios(
                scenarios, "127.0.0.1", srv.agi_port, concurrency=concurrency, repeat=repeat,
                records=srv.memory_records,
            )
    return results, summarise(results, time.monotonic() - started)


def _load(paths: list[Path]):
    from ..sim.scenario import ScenarioError, load_scenarios

    try:
        return load_scenarios(paths)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)


@app.command()
def simulate(
    scenario: list[Path] = typer.Argument(..., help="Scenario files or folders."),
    server: Optional[str] = typer.Option(None, "--server", help="HOST:PORT of a running server (default: embedded)."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Calls at once."),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Run every scenario this many times."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per call, then a summary line."),
    quiet: bool = typer.Option(False, "--quiet", help="Only the summary line."),
) -> None:
    """Run call scenarios against a running server (or an embedded one)."""
    configure_logging("json", "warning")
    scenarios = _load(scenario)
    results, summary = asyncio.run(_simulate(scenarios, server, concurrency, repeat))
    _print_results(results, summary, as_json, quiet)
    raise typer.Exit(0 if summary["failed"] == 0 else 1)


@app.command()
def demo(
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Calls at once."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Start the server in-process and run the bundled scenarios as real calls over TCP."""
    configure_logging("json", "warning")
    scenarios = _load([BUNDLED_SCENARIOS])
    results, summary = asyncio.run(_simulate(scenarios, None, concurrency, 1))
    _print_results(results, summary, as_json)
    if summary["failed"]:
        typer.echo(f"demo: {summary['failed']} of {summary['calls']} calls failed", err=True)
        raise typer.Exit(1)
    typer.echo(f"demo: all {summary['calls']} calls passed", err=True)


@prompts_app.command("build")
def prompts_build(
    prompts_dir: Path = typer.Option(DEFAULT_PROMPTS_DIR, "--prompts-dir", help="Folder holding catalog.yaml."),
    force: bool = typer.Option(False, "--force", help="Render every prompt again."),
    only: Optional[list[str]] = typer.Option(None, "--only", help="Render only these prompt ids."),
) -> None:
    """Render the prompt catalog to 8 kHz mono 16-bit WAV (offline, espeak-ng)."""
    from rich.progress import Progress

    from ..tts.catalog import CatalogError, build_prompts, load_catalog
    from ..tts.espeak import EspeakUnavailable

    try:
        catalog = load_catalog(prompts_dir / "catalog.yaml")
    except (CatalogError, OSError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2)
    ids = set(only) if only else None
    if ids and (missing := ids - set(catalog.prompts)):
        typer.echo(f"unknown prompt id(s): {', '.join(sorted(missing))}", err=True)
        raise typer.Exit(2)
    total = len(ids) if ids else len(catalog.prompts)
    try:
        with Progress(transient=not sys.stderr.isatty()) as progress:
            task = progress.add_task("rendering prompts", total=total)
            rendered, reused = build_prompts(
                catalog, only=ids, force=force,
                progress=lambda p, new: progress.update(task, advance=1, description=p.id),
            )
    except EspeakUnavailable as exc:
        typer.echo(f"ivr prompts build: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{rendered} prompt(s) rendered, {reused} unchanged, in {catalog.wav_dir}")


def main() -> None:
    app()
