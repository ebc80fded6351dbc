"""``ivr bench reload``: how long a live call waits on the IVR while the configuration reloads.

``ivr serve`` runs as a process with calls going on all the time; files are dropped into its flows
folder and it is told to reload (SIGHUP) — a 20 MB file, a YAML alias bomb, and the largest file
accepted (a valid 1 MB flow, parsed in the worker thread while calls run). For the calls in
progress meanwhile, the longest gap between an Asterisk reply and the IVR's next command (the IVR's
turn time) is reported, beside the same figure without a reload. Goal: at most 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..sim.runner import percentile, run_scenarios
from ..sim.scenario import Scenario
from .load import server_processes
from .progress import Progress

__all__ = ["run_reload_bench", "alias_bomb", "large_flow"]

FLOWS = Path(__file__).resolve().parent.parent / "flows"
OPEN = "2026-11-24T10:00:00+01:00"


def alias_bomb() -> str:
    """A "billion laughs": nine levels of nine aliases, about 550 bytes."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(8):
        this, prev = chr(98 + i), chr(97 + i)
        lines.append(f"{this}: &{this} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def large_flow(target_bytes: int = 1_000_000) -> str:
    """A valid flow just under the size limit: a long chain of play nodes with a yes/no question every
    ten (a caller never hears more than ten prompts in a row), ending at goodbye; no leads to an agent."""
    head = ("flow: grand\nstart: n0\nnodes:\n"
            "  agent_failed: {kind: route, queue: auto, reason: not_understood, prompts: [transfert]}\n"
            "  agent_requested: {kind: route, queue: auto, reason: agent_requested, prompts: [transfert]}\n")
    play = "  n{i}:\n    kind: play\n    description: étape {i} d'un très long parcours de démonstration\n" \
           "    prompts: [bienvenue]\n    next: n{j}\n"
    ask = "  n{i}:\n    kind: confirm\n    description: étape {i}, une question\n    prompt: question_dossier\n" \
          "    keypad_prompt: question_dossier_clavier\n    yes: n{j}\n    no: agent_requested\n"
    parts = [head]
    size, i = len(head), 0
    while size < target_bytes - 400:
        text = (ask if i % 10 == 9 else play).format(i=i, j=i + 1)
        parts.append(text)
        size += len(text.encode())
        i += 1
    parts.append(f"  n{i}:\n    kind: hangup\n    prompts: [au_revoir]\n    outcome: self_served\n")
    return "".join(parts)


def _call(i: int) -> Scenario:
    keys = ("1", "1", "5458443881#", "1", "1", "5")
    return Scenario.model_validate({"name": f"appel {i}", "call": {"at": OPEN, "caller": f"06{i:08d}"[-10:]},
                                    "steps": [{"kind": "press", "digits": k} for k in keys]})


async def _calls_during(srv: dict[str, Any], action: Callable[[], Awaitable[float]], seconds: float = 3.0) -> dict[str, Any]:
    """Calls back to back (8 at a time) for ``seconds``; ``action`` runs one second in."""
    port = srv["agi_port"]
    stop = time.monotonic() + seconds
    turns: list[float] = []
    failed = 0

    async def caller(n: int) -> None:
        nonlocal failed
        i = n
        while time.monotonic() < stop:
            [r] = await run_scenarios([_call(i)], "127.0.0.1", port)
            turns.extend(r.trace.turn_seconds)
            failed += not r.passed
            i += 8

    callers = [asyncio.create_task(caller(n)) for n in range(8)]
    await asyncio.sleep(1.0)
    took = await action()
    await asyncio.gather(*callers)
    return {"action_s": took, "agi_turns": len(turns), "calls_failed": failed,
            "turn_max_ms": round(max(turns, default=0) * 1000, 1),
            "turn_p99_ms": round(percentile(turns, 99) * 1000, 1)}


async def run_reload_bench(progress: Progress = print) -> dict[str, Any]:
    """Flow reloads during calls, measured: no call may break."""
    report: dict[str, Any] = {"bench": "reload"}
    with tempfile.TemporaryDirectory(prefix="ivr-reload-") as tmp_name:
        tmp = Path(tmp_name)
        flows = tmp / "flows"
        shutil.copytree(FLOWS, flows)
        async with server_processes(tmp, admin=True, env_extra={"IVR_FLOWS_DIR": str(flows)}) as srv:
            pid = srv["server"].pid

            async def nothing() -> float:
                return 0.0

            def dropping(name: str, content: str) -> Callable[[], Awaitable[float]]:
                async def action() -> float:
                    # Written from a thread: the simulated callers in this process must not wait on the disk.
                    await asyncio.to_thread((flows / name).write_text, content, encoding="utf-8")
                    started = time.monotonic()
                    os.kill(pid, signal.SIGHUP)
                    await asyncio.sleep(0.05)
                    return round(time.monotonic() - started, 3)
                return action

            progress("calls without a reload")
            report["baseline"] = await _calls_during(srv, nothing)
            progress("reload with a 20 MB file in the flows folder")
            report["file_20mb"] = await _calls_during(srv, dropping("enorme.yaml", "# " + "x" * (20 * 1024 * 1024) + "\n"))
            (flows / "enorme.yaml").unlink()
            progress("reload with a YAML alias bomb in the flows folder")
            report["alias_bomb"] = await _calls_during(srv, dropping("bombe.yaml", alias_bomb()))
            (flows / "bombe.yaml").unlink()
            progress("reload with a valid 1 MB flow (the largest accepted)")
            big = large_flow()
            report["valid_1mb_flow"] = await _calls_during(srv, dropping("grand.yaml", big), seconds=6.0)
            report["valid_1mb_flow"]["bytes"] = len(big.encode())
    report["goal_ms"] = 50
    report["ok"] = all(report[k]["turn_max_ms"] <= 50 and report[k]["calls_failed"] == 0
                       for k in ("file_20mb", "alias_bomb", "valid_1mb_flow"))
    return report
