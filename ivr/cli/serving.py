"""``ivr serve``, ``ivr simulate`` and ``ivr demo``: the server, and calls placed against it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from pydantic import ValidationError

from ..config import PACKAGE_DIR, Settings, load_settings
from ..logs import configure_logging
from .arguments import host_port, reachable

if TYPE_CHECKING:
    from ..sim.runner import CallResult
    from ..sim.scenario import Scenario

__all__ = ["commands", "load_scenario_files"]

commands = typer.Typer()

BUNDLED_SCENARIOS = PACKAGE_DIR / "sim" / "scenarios"

@commands.command()
def serve(
    config: Optional[Path] = typer.Option(None, "--config", metavar="FILE", help="YAML settings file."),
    host: Optional[str] = typer.Option(None, "--host", metavar="ADDRESS", help="Address to listen on (IVR_HOST)."),
    agi_port: Optional[int] = typer.Option(None, "--agi-port", metavar="PORT", min=0, max=65535, help="FastAGI port (IVR_AGI_PORT, 4573)."),
    audiosocket_port: Optional[int] = typer.Option(None, "--audiosocket-port", metavar="PORT", min=0, max=65535,
                                                    help="AudioSocket port (9092)."),
    admin_port: Optional[int] = typer.Option(None, "--admin-port", metavar="PORT", min=-1, max=65535,
                                              help="Admin HTTP port (8080; -1: no admin server)."),
    records: Optional[Path] = typer.Option(None, "--records", metavar="FILE", help="Call records file (JSON Lines)."),
    prompts_dir: Optional[Path] = typer.Option(None, "--prompts-dir", metavar="DIR", help="Prompt folder shared with Asterisk."),
    flows_dir: Optional[Path] = typer.Option(None, "--flows-dir", metavar="DIR", help="Flow definitions folder."),
    ami: Optional[str] = typer.Option(None, "--ami", metavar="HOST:PORT", help="AMI address HOST:PORT."),
    store: Optional[str] = typer.Option(None, "--store", metavar="FILE|URL",
        help="SQLite file, or postgresql://… shared by several nodes (IVR_STORE)."),
    node_name: Optional[str] = typer.Option(None, "--node-name", metavar="NAME",
        help="This node's name among several (IVR_NODE_NAME): the dialplan's fail-over uses it."),
    allow_sim_clock: bool = typer.Option(False, "--allow-sim-clock", help="Honour sim_now= AGI arguments (testing)."),
) -> None:
    """Run the IVR server (FastAGI, AudioSocket, admin HTTP)."""
    ami_host = ami_port = None
    if ami:
        ami_host, ami_port = host_port(ami, "--ami", default_port=5038)
    settings = _serve_settings(config, host=host, agi_port=agi_port, audiosocket_port=audiosocket_port,
                               admin_port=admin_port, records=records, prompts_dir=prompts_dir, flows_dir=flows_dir,
                               ami_host=ami_host or None, ami_port=ami_port, store=store, node_name=node_name)
    configure_logging(settings.log_format, settings.log_level)
    _run_server(settings, allow_sim_clock=allow_sim_clock or settings.allow_sim_clock)


def _serve_settings(config: Optional[Path], **overrides: Any) -> Settings:
    """The settings ``ivr serve`` runs with, or exit 2 with the one setting that is wrong."""
    try:
        return load_settings(config, **overrides)
    except ValidationError as exc:  # one line: the setting and what is wrong with it
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                             for e in exc.errors())
        typer.echo(f"ivr serve: {problems}", err=True)
        raise typer.Exit(2) from None
    except (ValueError, OSError) as exc:
        typer.echo(f"ivr serve: {exc}", err=True)
        raise typer.Exit(2) from None


def _run_server(settings: Settings, *, allow_sim_clock: bool) -> None:
    """Serve until stopped; a start that cannot happen exits 1 (a port, the admin binding) or 2 (the
    configuration), with why."""
    from ..server.app import IvrServer, LineRejected, StartupError

    try:
        server = IvrServer(settings, allow_sim_clock=allow_sim_clock)
        asyncio.run(server.serve_forever())
    except StartupError as exc:
        typer.echo(f"ivr serve: cannot start: {exc}", err=True)
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"ivr serve: cannot start: {exc.strerror or exc} "
                   f"(host {settings.host}, AGI port {settings.agi_port})", err=True)
        raise typer.Exit(1) from None
    except LineRejected as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        typer.echo("ivr serve: the flows, rules or catalog on disk were rejected and no accepted copy exists "
                   f"(in {settings.accepted_dir}): nothing to serve", err=True)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a broken setting: the message names it
        typer.echo(f"ivr serve: {exc}", err=True)
        raise typer.Exit(2) from None


def _print_results(results: list[CallResult], summary: dict[str, Any], as_json: bool, quiet: bool = False) -> None:
    from ..sim.runner import render_transcript

    if as_json:
        for r in results:
            print(json.dumps(r.to_json(), ensure_ascii=False))
    elif not quiet:
        for r in results:
            print(render_transcript(r))
            print()
    print(json.dumps(summary))


async def _simulate(scenarios: list[Scenario], server: tuple[str, int] | None, concurrency: int, repeat: int,
                    speed: float = 1.0, admin: str | None = None) -> tuple[list[CallResult], dict[str, Any]]:
    from ..config import TesterSettings
    from ..sim.notices import AdminNotices
    from ..sim.runner import run_scenarios, summarise

    started = time.monotonic()
    if server:
        problem = await reachable(*server)
        if problem:
            typer.echo(f"ivr simulate: {problem} (is ivr serve running there?)", err=True)
            raise typer.Exit(1)
        token = TesterSettings().admin_token.get_secret_value()
        results = await run_scenarios(scenarios, server[0], server[1], concurrency=concurrency, repeat=repeat,
                                      speed=speed, notices=AdminNotices(admin, token) if admin else None)
    else:
        from ..server.embedded import embedded_server

        # In-process, the server may send its prompts as fast as the simulated caller takes them.
        async with embedded_server(audiosocket_pace=speed) as srv:
            notices = AdminNotices(srv.admin_url, srv.settings.admin_token.get_secret_value()) if srv.admin_url else None
            results = await run_scenarios(
                scenarios, "127.0.0.1", srv.agi_port, concurrency=concurrency, repeat=repeat,
                records=srv.memory_records, speed=speed, notices=notices,
            )
    return results, summarise(results, time.monotonic() - started)


def load_scenario_files(paths: Sequence[str | Path]) -> list[Scenario]:
    """Scenarios from YAML files; a broken file stops the command with its file:line."""
    from ..sim.scenario import ScenarioError, load_scenarios

    try:
        return load_scenarios(paths)
    except ScenarioError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@commands.command()
def simulate(
    scenario: list[Path] = typer.Argument(..., metavar="SCENARIOS...", help="Scenario files or folders."),
    server: Optional[str] = typer.Option(None, "--server", metavar="HOST:PORT", help="HOST:PORT of a running server (default: embedded)."),
    concurrency: int = typer.Option(1, "--concurrency", metavar="N", min=1, help="Calls at once."),
    repeat: int = typer.Option(1, "--repeat", metavar="N", min=1, help="Run every scenario this many times."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per call, then a summary line."),
    quiet: bool = typer.Option(False, "--quiet", help="Only the summary line."),
    speed: float = typer.Option(1.0, "--speed", metavar="PACE", min=0,
        help="Caller audio pace over AudioSocket: 1 real time, 0 as fast as possible."),
    admin: Optional[str] = typer.Option(None, "--admin", metavar="URL",
        help="With --server: the IVR's admin URL, to switch on the closure notices scenarios ask for "
             "(token: IVR_ADMIN_TOKEN)."),
) -> None:
    """Run call scenarios against a running server (or an embedded one)."""
    from .arguments import http_url

    address = host_port(server, "--server") if server else None
    admin_url = http_url(admin, "--admin") if admin else None
    configure_logging("json", "warning")
    scenarios = load_scenario_files(scenario)
    results, summary = asyncio.run(_simulate(scenarios, address, concurrency, repeat, speed, admin_url))
    _print_results(results, summary, as_json, quiet)
    raise typer.Exit(0 if summary["failed"] == 0 else 1)


@commands.command()
def demo(
    concurrency: int = typer.Option(4, "--concurrency", metavar="N", min=1, help="Calls at once."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Start the server in-process and run the bundled scenarios as real calls over TCP."""
    configure_logging("json", "warning")
    scenarios = load_scenario_files([BUNDLED_SCENARIOS])
    results, summary = asyncio.run(_simulate(scenarios, None, concurrency, 1, speed=0))
    _print_results(results, summary, as_json)
    if summary["failed"]:
        typer.echo(f"demo: {summary['failed']} of {summary['calls']} calls failed", err=True)
        raise typer.Exit(1)
    typer.echo(f"demo: all {summary['calls']} calls passed", err=True)
