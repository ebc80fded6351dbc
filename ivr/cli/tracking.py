"""``ivr tracking-stub``: the tracking service stub on its own."""

from __future__ import annotations

import typer

from ..logs import configure_logging

__all__ = ["commands"]

commands = typer.Typer()

@commands.command("tracking-stub")
def tracking_stub(
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS"),
    port: int = typer.Option(8081, "--port", metavar="PORT", min=0, max=65535),
    db: str = typer.Option(":memory:", "--db", metavar="FILE", help="SQLite file (seeded when empty)."),
    seed: int = typer.Option(3400, "--seed", metavar="N", help="Dataset seed (same seed, same files)."),
    per_title: int = typer.Option(1500, "--per-title", metavar="N", help="Files per title type."),
    latency: float = typer.Option(0.0, "--latency", metavar="SECONDS", help="Seconds added to every answer."),
    fail: bool = typer.Option(False, "--fail", help="Answer 503 to everything (fault injection)."),
    hold: bool = typer.Option(False, "--hold", help="Hold every file request until PUT /v1/_faults "
                              '{"hold": false} (fault injection).'),
) -> None:
    """Run the tracking service stub alone."""
    from ..tracking.stub import StubConfig, run_stub

    configure_logging("auto", "info")
    typer.echo(f"tracking stub on http://{host}:{port} (seed {seed})", err=True)
    try:
        run_stub(StubConfig(db=db, seed=seed, per_title=per_title, latency=latency, fail=fail,
                            hold=hold), host, port)
    except OSError as exc:
        typer.echo(f"ivr tracking-stub: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
