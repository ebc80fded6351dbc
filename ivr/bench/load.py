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
from contextlib import asynccontextmanager
from pathlib import Path

from ..lab.services import free_port
from ..sim.runner import CallResult, summarise
from ..sim.scenario import Scenario, load_scenarios
from ..yamlsrc import load_yaml, to_plain

__all__ = ["run_load_bench", "server_processes", "proc_cpu_seconds", "proc_peak_rss_mb", "free_port"]

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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def proc_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


@asynccontextmanager
async def server_processes(tmp: Path, *, env_extra: dict[str, str] | None = None, admin: bool = False,
                           nofile: tuple[int, int] | None = None):
    """Start ``ivr tracking-stub`` and ``ivr serve`` as processes; yields a dict of ports, pids, paths.

    ``nofile`` sets the server's open-files limit (soft, hard), as systemd would.
    """
    stub_port, agi_port = free_port(), free_port()
    admin_port = free_port() if admin else -1
    env = {**os.environ, "IVR_LOG_LEVEL": "error", "IVR_LOG_FORMAT": "json", "IVR_SPEECH": "false",
           "IVR_FLOW_WATCH_INTERVAL": "0", "IVR_STORE": str(tmp / "ivr.sqlite"), "IVR_ACCEPTED_DIR": str(tmp / "accepted"),
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
        await wait_port(stub_port)
        await wait_port(agi_port)
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


async def _drive(scenarios: list[Scenario], port: int, concurrency: int, progress, *, classic=None,
                 classic_env=None) -> tuple[list[CallResult], float]:
    from ..sim.peer import place_call
    from ..sim.runner import check

    sem = asyncio.Semaphore(concurrency)
    results: list[CallResult] = []
    started = time.monotonic()
    step = max(1, len(scenarios) // 10)

    async def one(sc: Scenario) -> None:
        async with sem:
            trace = await place_call(sc, "127.0.0.1", port, classic=classic, classic_env=classic_env)
        results.append(check(trace))
        if len(results) % step == 0:
            failed = sum(not r.passed for r in results)
            progress(f"{len(results)}/{len(scenarios)} calls, {failed} failed, "
                     f"{time.monotonic() - started:.1f} s")

    await asyncio.gather(*(one(sc) for sc in scenarios))
    return results, time.monotonic() - started


async def run_load_bench(calls: int, concurrency: int, *, mix: Path | None = None, classic_calls: int | None = None,
                         seed: int = 3400, progress=print) -> dict:
    rng = random.Random(seed)
    weighted = load_mix(mix)
    population, weights = zip(*weighted, strict=True)
    scenarios = [rng.choices(population, weights)[0] for _ in range(calls)]
    with tempfile.TemporaryDirectory(prefix="ivr-bench-") as tmp_name:
        tmp = Path(tmp_name)
        async with server_processes(tmp) as srv:
            pid = srv["server"].pid
            cpu0 = proc_cpu_seconds(pid)
            progress(f"FastAGI: {calls} calls, {concurrency} at once")
            results, wall = await _drive(scenarios, srv["agi_port"], concurrency, progress)
            cpu = proc_cpu_seconds(pid) - cpu0
            fast = summarise(results, wall)
            fast["server_cpu_s_per_call"] = round(cpu / max(calls, 1), 5)
            fast["server_peak_rss_mb"] = round(proc_peak_rss_mb(pid), 1)
            records = srv["records"].read_text().splitlines() if srv["records"].exists() else []
            fast["records_written"] = len(records)

            n_classic = min(calls, 100) if classic_calls is None else classic_calls
            classic: dict = {"calls": 0}
            if n_classic > 0:
                progress(f"classic AGI: {n_classic} calls (one process each), {min(concurrency, 8)} at once")
                env = {k: v for k, v in srv["env"].items() if k.startswith("IVR_")}
                env.update({"IVR_RECORDS": str(tmp / "classic.jsonl"), "IVR_ALLOW_SIM_CLOCK": "true"})
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                c_results, c_wall = await _drive(scenarios[:n_classic], 0, min(concurrency, 8), progress,
                                                 classic=classic_command(), classic_env=env)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                c_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                classic = summarise(c_results, c_wall)
                classic["cpu_s_per_call"] = round(c_cpu / n_classic, 4)
                classic["peak_rss_mb_per_process"] = round(after.ru_maxrss / 1024, 1)
    summary = {"bench": "load", "fastagi": fast, "classic_agi": classic, "cores": os.cpu_count()}
    if classic.get("calls") and fast["calls"]:
        summary["classic_over_fastagi_cpu_per_call"] = round(
            classic["cpu_s_per_call"] / max(fast["server_cpu_s_per_call"], 1e-9), 1)
        # Turn latencies are not compared: classic runs far fewer calls at once (a process each).
    return summary
