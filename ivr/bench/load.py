"""``ivr bench load``: the full 34 00 flow under load, FastAGI against classic AGI.

The server and the tracking stub run as separate processes (as in
production), the simulator drives calls over real sockets from this process.
Reported: calls ok/failed, outcomes, the IVR's per-turn overhead (time from
Asterisk's reply to the IVR's next command, p50/p95/p99), server CPU seconds
per call and peak RSS; then the same scenarios through the classic AGI script
(one process per call) and the ratio between the two.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lab.ports import free_port
from ..sim.runner import CallResult, summarise
from ..sim.scenario import Scenario, load_scenarios
from ..waiting import STARTUP, until
from ..yamlsrc import load_yaml, to_plain
from .progress import Progress

__all__ = ["run_load_bench", "server_processes", "proc_cpu_seconds", "proc_peak_rss_mb"]

ROOT = Path(__file__).resolve().parent.parent
CLASSIC_SCRIPT = ROOT.parent / "agi_scripts" / "ivr_agi.py"


def classic_command() -> list[str]:
    """How Asterisk would start the classic AGI: the script in a checkout, the module otherwise."""
    if CLASSIC_SCRIPT.exists():
        return [sys.executable, str(CLASSIC_SCRIPT)]
    return [sys.executable, "-m", "ivr.server.classic"]


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def proc_peak_rss_mb(pid: int) -> float:
    """A process's peak resident memory, in MB (Linux's ``VmHWM``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def wait_port(port: int, timeout: float = STARTUP, proc: asyncio.subprocess.Process | None = None) -> None:
    """Until something listens on ``port`` (``proc``: the process that should, which must not exit)."""
    async def listening() -> bool:
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"the process meant to listen on port {port} exited with {proc.returncode}")
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        w.close()
        return True

    await until(listening, f"something to listen on port {port}", timeout=timeout, interval=0.1)


@asynccontextmanager
async def server_processes(tmp: Path, *, env_extra: dict[str, str] | None = None, admin: bool = False,
                           nofile: tuple[int, int] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Start ``ivr tracking-stub`` and ``ivr serve`` as processes; yields a dict of ports, pids, paths.

    ``nofile`` sets the server's open-files limit (soft, hard), as systemd would.
    """
    stub_port, agi_port = free_port(), free_port()
    admin_port = free_port() if admin else -1
    env = {**os.environ, "IVR_LOG_LEVEL": "error", "IVR_LOG_FORMAT": "json", "IVR_SPEECH": "false",
           "IVR_FLOW_WATCH_INTERVAL": "0", "IVR_STORE": str(tmp / "ivr.sqlite"), "IVR_ACCEPTED_DIR": str(tmp / "accepted"),
           "IVR_DYNAMIC_PROMPTS_DIR": str(tmp / "readbacks"),
           "IVR_TRACKING_URL": f"http://127.0.0.1:{stub_port}", **(env_extra or {})}
    stub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "tracking-stub", "--port", str(stub_port),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, env=env)
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "serve", "--agi-port", str(agi_port), "--admin-port", str(admin_port),
        "--records", str(tmp / "calls.jsonl"), "--allow-sim-clock",
        stdout=asyncio.subprocess.DEVNULL, stderr=open(tmp / "server.log", "ab"), env=env,
        preexec_fn=(lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None)
    try:
        await wait_port(stub_port, proc=stub)
        await wait_port(agi_port, proc=server)
        yield {"agi_port": agi_port, "admin_port": admin_port, "stub_port": stub_port, "server": server,
               "stub": stub, "records": tmp / "calls.jsonl", "env": env, "log": tmp / "server.log"}
    finally:
        for proc in (server, stub):
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 15)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()


DEFAULT_MIX = Path(__file__).resolve().parent / "mix.yaml"
#: The real-time run's mix: calls long enough to be all in progress together.
REALTIME_MIX = Path(__file__).resolve().parent / "mix-keypad.yaml"


def load_mix(path: Path | None) -> list[tuple[Scenario, float]]:
    """Scenarios and their weights: a YAML list of ``{scenario: FILE, weight: N}`` (default: ``mix.yaml``)."""
    path = path or DEFAULT_MIX
    items = to_plain(load_yaml(path))
    out = []
    for item in items:
        scenario_path = Path(item["scenario"])
        if not scenario_path.is_absolute():
            scenario_path = path.parent / scenario_path
        out.append((load_scenarios([scenario_path])[0], float(item.get("weight", 1))))
    return out


@dataclass
class Drive:
    results: list[CallResult]
    wall: float
    #: The most calls in progress at once.
    peak: int = 0


async def _drive(scenarios: list[Scenario], port: int, concurrency: int, progress: Progress, *, classic: list[str] | None = None,
                 classic_env: dict[str, str] | None = None, realtime: bool = False, ramp: float = 0.0) -> Drive:
    """Place the calls, at most ``concurrency`` at once; with ``ramp``, the i-th call starts at
    ``i / len * ramp`` seconds (a busy hour's arrivals rather than one burst)."""
    from ..sim.peer import place_call
    from ..sim.runner import check

    sem = asyncio.Semaphore(concurrency)
    drive = Drive([], 0.0)
    in_progress = 0
    started = time.monotonic()
    step = max(1, len(scenarios) // 10)

    async def one(i: int, sc: Scenario) -> None:
        nonlocal in_progress
        if ramp:
            await asyncio.sleep(i * ramp / len(scenarios))
        async with sem:
            in_progress += 1
            drive.peak = max(drive.peak, in_progress)
            try:
                trace = await place_call(sc, "127.0.0.1", port, classic=classic, classic_env=classic_env,
                                         realtime=realtime)
            finally:
                in_progress -= 1
        drive.results.append(check(trace))
        if len(drive.results) % step == 0:
            failed = sum(not r.passed for r in drive.results)
            progress(f"{len(drive.results)}/{len(scenarios)} calls, {failed} failed, {in_progress} in progress, "
                     f"{time.monotonic() - started:.1f} s")

    await asyncio.gather(*(one(i, sc) for i, sc in enumerate(scenarios)))
    drive.wall = time.monotonic() - started
    return drive


def _from_caller(scenario: Scenario, number: str) -> Scenario:
    copy = scenario.model_copy(deep=True)
    copy.call.caller = number
    return copy


#: The real-time run's target for the IVR's turn (Asterisk's reply to the IVR's next command), p95.
REALTIME_TURN_P95_MS = 20.0


async def run_load_bench(calls: int, concurrency: int, *, mix: Path | None = None, classic_calls: int | None = None,
                         seed: int = 3400, progress: Progress = print, realtime: bool = False, ramp: float | None = None) -> dict[str, Any]:
    """The load run. ``realtime``: prompts take their real length (so calls last what they last on
    a line, and ``concurrency`` calls are really in progress together), classic AGI is not run
    unless asked, and the summary says whether the turn p95 met :data:`REALTIME_TURN_P95_MS`."""
    rng = random.Random(seed)
    weighted = load_mix(mix or (REALTIME_MIX if realtime else None))
    population, weights = zip(*weighted, strict=True)
    # Each call from its own number, as in a busy hour (one number's calls share a lookup budget).
    scenarios = [_from_caller(rng.choices(population, weights)[0], f"06{rng.randrange(10**8):08d}")
                 for _ in range(calls)]
    if ramp is None:
        ramp = calls / 200 if realtime else 0.0  # 200 new calls a second
    if realtime and classic_calls is None:
        classic_calls = 0
    # A real-time run holds every call open at once: the server's connection cap must not be the limit.
    env_extra = {"IVR_MAX_AGI_CONNECTIONS": str(max(1000, concurrency + 100))}
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp_name:
        tmp = Path(tmp_name)
        async with server_processes(tmp, env_extra=env_extra) as srv:
            pid = srv["server"].pid
            cpu0 = proc_cpu_seconds(pid)
            driver0 = resource.getrusage(resource.RUSAGE_SELF)
            progress(f"FastAGI: {calls} calls, {concurrency} at once" + (
                f", prompts at their real length, arrivals over {ramp:g} s" if realtime else ""))
            drive = await _drive(scenarios, srv["agi_port"], concurrency, progress, realtime=realtime, ramp=ramp)
            results, wall = drive.results, drive.wall
            cpu = proc_cpu_seconds(pid) - cpu0
            driver1 = resource.getrusage(resource.RUSAGE_SELF)
            fast = summarise(results, wall)
            fast["peak_concurrent_calls"] = drive.peak
            fast["mean_call_seconds"] = round(sum(r.trace.seconds for r in results) / max(len(results), 1), 1)
            fast["server_cpu_s_per_call"] = round(cpu / max(calls, 1), 5)
            fast["server_cpu_percent_of_one_core"] = round(100 * cpu / wall, 1) if wall else None
            fast["server_peak_rss_mb"] = round(proc_peak_rss_mb(pid), 1)
            fast["simulator_cpu_s"] = round((driver1.ru_utime - driver0.ru_utime) + (driver1.ru_stime - driver0.ru_stime), 1)
            if realtime:
                fast["turn_p95_target_ms"] = REALTIME_TURN_P95_MS
                fast["turn_p95_met"] = fast["ivr_turn_ms_p95"] <= REALTIME_TURN_P95_MS
            records = srv["records"].read_text().splitlines() if srv["records"].exists() else []
            fast["records_written"] = len(records)

            n_classic = min(calls, 100) if classic_calls is None else classic_calls
            classic: dict[str, Any] = {"calls": 0}
            if n_classic > 0:
                progress(f"classic AGI: {n_classic} calls (one process each), {min(concurrency, 8)} at once")
                env = {k: v for k, v in srv["env"].items() if k.startswith("IVR_")}
                env.update({"IVR_RECORDS": str(tmp / "classic.jsonl"), "IVR_ALLOW_SIM_CLOCK": "true"})
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                c_drive = await _drive(scenarios[:n_classic], 0, min(concurrency, 8), progress,
                                       classic=classic_command(), classic_env=env)
                c_results, c_wall = c_drive.results, c_drive.wall
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                c_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                classic = summarise(c_results, c_wall)
                classic["cpu_s_per_call"] = round(c_cpu / n_classic, 4)
                classic["peak_rss_mb_per_process"] = round(after.ru_maxrss / 1024, 1)
    summary = {"bench": "load-realtime" if realtime else "load", "fastagi": fast, "classic_agi": classic, "cores": os.cpu_count()}
    if classic.get("calls") and fast["calls"]:
        summary["classic_over_fastagi_cpu_per_call"] = round(
            classic["cpu_s_per_call"] / max(fast["server_cpu_s_per_call"], 1e-9), 1)
        # Turn latencies are not compared: classic runs far fewer calls at once (a process each).
    return summary
