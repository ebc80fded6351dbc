"""``ivr bench faults``: abuse a running server and check that nothing breaks.

Against ``ivr serve`` and the tracking stub as separate processes: fuzzed
environment blocks and replies, hang-ups at random points, tracking failures,
a SIGHUP storm during calls, resource attacks (reply floods, descriptor
exhaustion at a 1,024 limit, slow admin clients, AudioSocket trickle: see
``attacks``), SIGTERM during load (graceful drain), kill -9 (finished calls'
records intact); file descriptors and sessions counted before and after.
Every call must end with exactly one recorded outcome.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from ..sim.runner import run_scenarios
from ..sim.scenario import Scenario
from .attacks import run_resource_attacks
from .load import proc_fds, server_processes
from .progress import Progress

__all__ = ["run_fault_bench", "fuzz_env_block", "fuzz_reply", "normal_call"]

OPEN = "2026-11-24T10:00:00+01:00"


def normal_call(i: int = 0, *steps: str, **call: Any) -> Scenario:
    """A scenario for an ordinary call (keys ``steps``, by default the registration menu)."""
    keys = steps or ("1", "2")
    return Scenario.model_validate({"name": f"call-{i}", "call": {"at": OPEN, "caller": f"06{i:08d}"[-10:], **call},
                                    "steps": [{"kind": "press", "digits": k} for k in keys]})


def fuzz_env_block(rng: random.Random) -> bytes:
    """A broken environment block: garbage, truncation, huge lines, binary, missing blank line…"""
    good = (b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://h/ants-3400\n"
            b"agi_channel: PJSIP/x\nagi_uniqueid: 1.1\nagi_threadid: 1\n\n")
    choice = rng.randrange(7)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if choice == 1:
        return good[: rng.randrange(len(good) - 1)]
    if choice == 2:
        return b"agi_request: " + b"x" * rng.randrange(9000, 40000) + b"\n\n"
    if choice == 3:
        return good.replace(b"agi_request", b"agi request")
    if choice == 4:
        return b"\n".join(b"agi_x%d: y" % i for i in range(rng.randrange(300, 600))) + b"\n\n"
    if choice == 5:
        return b"GET / HTTP/1.1\r\nHost: ivr\r\n\r\n"
    mutated = bytearray(good)
    for _ in range(rng.randrange(1, 6)):
        mutated[rng.randrange(len(mutated))] = rng.randrange(256)
    return bytes(mutated)


def fuzz_reply(rng: random.Random) -> bytes:
    """A reply Asterisk would never send (or a rare one)."""
    return rng.choice([
        b"200 result=\n", b"200\n", b"999 result=1\n", b"200 result=abc (x\n", b"HANGUP\n", b"\n",
        b"520-partial usage\n", b"100 result=0 Trying...\n", b"200 result=1 (" + b"z" * 9000 + b")\n",
        bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))) + b"\n",
    ])


async def _raw(port: int, payload: bytes, *, replies: list[bytes] | None = None, timeout: float = 8.0) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        for reply in replies or []:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                return
            writer.write(reply)
            await writer.drain()
        await asyncio.wait_for(reader.read(), timeout)
    except (ConnectionError, asyncio.TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def _active_calls(admin_port: int) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{admin_port}/calls") as resp:
            return int((await resp.json())["active"])


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def run_fault_bench(*, fuzz: int = 200, calls: int = 100, seed: int = 3400, progress: Progress = print) -> dict[str, Any]:
    """Bad input and broken parts, measured: every call must still end with a record."""
    rng = random.Random(seed)
    report: dict[str, Any] = {"bench": "faults"}
    with tempfile.TemporaryDirectory(prefix="ivr-faults-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "a").mkdir()
        async with server_processes(tmp / "a", admin=True) as srv:
            port, pid = srv["agi_port"], srv["server"].pid
            [warm] = await run_scenarios([normal_call()], "127.0.0.1", port)
            fds_before = proc_fds(pid)

            progress(f"fuzzed environment blocks: {fuzz}")
            await asyncio.gather(*(_raw(port, fuzz_env_block(rng)) for _ in range(fuzz)))
            progress(f"fuzzed replies: {fuzz}")
            env = b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://h/ants-3400\n" \
                  b"agi_uniqueid: fuzz.%d\nagi_callerid: 0600000000\nagi_threadid: 1\n\n"
            await asyncio.gather(*(_raw(port, env % i, replies=[b"200 result=0\n"] * rng.randrange(0, 3)
                                        + [fuzz_reply(rng)]) for i in range(fuzz)))
            progress(f"random hang-ups: {calls} calls")
            hangups = [normal_call(i, "1", "1", "5458443881#", "1", "1", "5",
                                   hangup_before_command=rng.randrange(1, 18)) for i in range(calls)]
            results = await run_scenarios(hangups, "127.0.0.1", port, concurrency=50)
            report["random_hangups"] = {"calls": calls, "failed": sum(not r.passed for r in results),
                                        "caller_hangup": sum(r.outcome == "caller_hangup" for r in results)}
            progress("tracking failures: a hung service, then 503s")
            os.kill(srv["stub"].pid, signal.SIGSTOP)  # a hung tracking service: connections accepted, no answer
            try:
                started = time.monotonic()
                results = await run_scenarios([normal_call(i, "1", "1", "5458443881#", "1")
                                               for i in range(calls // 2)], "127.0.0.1", port, concurrency=50)
                report["tracking_hung"] = {"calls": len(results), "failed": sum(not r.passed for r in results),
                                           "routed": sum(r.outcome.startswith("routed") for r in results),
                                           "slowest_call_s": round(max(r.trace.seconds for r in results), 2),
                                           "wall_s": round(time.monotonic() - started, 2)}
            finally:
                os.kill(srv["stub"].pid, signal.SIGCONT)
            down = [normal_call(i, "3", "1", "9900000142#", "1") for i in range(calls // 2)]
            results = await run_scenarios(down, "127.0.0.1", port, concurrency=50)
            report["tracking_503"] = {"calls": len(down), "failed": sum(not r.passed for r in results),
                                      "routed": sum(r.outcome.startswith("routed") for r in results)}

            progress("SIGHUP storm during calls")
            storm = asyncio.create_task(run_scenarios([normal_call(i) for i in range(calls)], "127.0.0.1", port,
                                                      concurrency=25))
            for _ in range(50):
                os.kill(pid, signal.SIGHUP)
                await asyncio.sleep(0.01)
            results = await storm
            report["sighup_storm"] = {"signals": 50, "calls": calls, "failed": sum(not r.passed for r in results)}

            # Leaks: descriptors grow with pooled HTTP connections up to the pool size, then stay;
            # a leak keeps growing. Compare two more rounds of the same calls.
            await asyncio.sleep(0.3)
            fds_mid = proc_fds(pid)
            for _ in range(2):
                await run_scenarios([normal_call(i) for i in range(calls)], "127.0.0.1", port, concurrency=25)
            await asyncio.sleep(0.3)
            [after] = await run_scenarios([normal_call()], "127.0.0.1", port)
            fds_after = proc_fds(pid)
            active = await _active_calls(srv["admin_port"])
            records = _records(srv["records"])
            report["leaks"] = {"fds_at_start": fds_before, "fds_after_faults": fds_mid, "fds_after_more_calls": fds_after,
                               "active_sessions_after": active,
                               "server_alive": srv["server"].returncode is None and after.passed}
            report["records"] = {"written": len(records),
                                 "one_outcome_each": all(r.get("outcome") for r in records),
                                 "unique_call_ids": len({r["call_id"] for r in records}) == len(records)}

        (tmp / "d").mkdir()
        # Raise this process's own limit: the attacks open 4,100 sockets.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < 8192 <= hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (8192, hard))
        async with server_processes(tmp / "d", admin=True, nofile=(1024, 1024),
                                    env_extra={"IVR_PEER_ALLOW": "127.0.0.1/32", "IVR_LOG_LEVEL": "warning"}) as srv:
            report["resource_attacks"] = await run_resource_attacks(
                srv, lambda n: [normal_call(i) for i in range(n)], progress)

        progress("SIGTERM during load (graceful drain)")
        (tmp / "b").mkdir()
        async with server_processes(tmp / "b") as srv:
            load = asyncio.create_task(run_scenarios([normal_call(i, "1", "1", "9900000241#", "1")
                                                      for i in range(40)], "127.0.0.1", srv["agi_port"],
                                                     concurrency=40))
            await asyncio.sleep(0.5)
            srv["server"].send_signal(signal.SIGTERM)
            results = await load
            code = await asyncio.wait_for(srv["server"].wait(), 60)
            records = _records(srv["records"])
            report["sigterm_drain"] = {"calls": len(results), "exit_code": code,
                                       "calls_with_outcome": sum(r.outcome != "none" for r in results),
                                       "records": len(records)}

        progress("kill -9 during load")
        (tmp / "c").mkdir()
        async with server_processes(tmp / "c") as srv:
            load = asyncio.create_task(run_scenarios([normal_call(i) for i in range(300)], "127.0.0.1",
                                                     srv["agi_port"], concurrency=30))
            await asyncio.sleep(0.4)
            killed_at = time.monotonic()
            srv["server"].kill()
            results = await load
            lines = srv["records"].read_text().splitlines() if srv["records"].exists() else []
            recorded = {json.loads(line)["uniqueid"] for line in lines}  # raises if a record was cut
            # A call finished when the IVR closed it; those closed before the kill must all be on disk.
            finished = [r for r in results if r.outcome != "none" and r.trace.closed_at is not None
                        and r.trace.closed_at < killed_at]
            lost = [r for r in finished if r.trace.uniqueid not in recorded]
            report["kill9"] = {"calls_started": len(results), "calls_finished_before_kill": len(finished),
                               "records_intact": len(lines), "records_lost": len(lost)}
    report["ok"] = (report["random_hangups"]["failed"] == 0 and report["tracking_503"]["failed"] == 0
                    and report["tracking_hung"]["failed"] == 0
                    and report["tracking_hung"]["routed"] == report["tracking_hung"]["calls"] and report["sighup_storm"]["failed"] == 0
                    and report["leaks"]["server_alive"] and report["leaks"]["active_sessions_after"] == 0
                    and report["leaks"]["fds_after_more_calls"] <= report["leaks"]["fds_after_faults"] + 2
                    and report["records"]["one_outcome_each"] and report["sigterm_drain"]["exit_code"] == 0
                    and report["sigterm_drain"]["calls_with_outcome"] == report["sigterm_drain"]["calls"]
                    and report["kill9"]["records_lost"] == 0
                    and all(a["normal_calls_passed"] == a["normal_calls"] for name, a in report["resource_attacks"].items()
                            if isinstance(a, dict) and "normal_calls" in a)
                    and report["resource_attacks"]["audiosocket_trickle"]["longest_question_s"] < 10)
    return report
