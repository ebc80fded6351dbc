"""Hot reload: valid changes apply to new calls, invalid ones are refused, in-flight calls keep their version."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from tests.clocks import OPEN

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"


def no_number_call() -> Scenario:
    return Scenario.model_validate({"name": "t", "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}]})


def slow_lookup_call() -> Scenario:
    steps = [{"kind": "press", "digits": d} for d in ("1", "1", "9900000241#", "1")]
    return Scenario.model_validate({"name": "slow", "call": {"at": OPEN}, "steps": steps})


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


async def test_valid_change_applies_to_new_calls_invalid_change_keeps_running_version(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    async with embedded_server(flows_dir=flows) as srv:
        port = srv.agi_port
        [before] = await run_scenarios([no_number_call()], "127.0.0.1", port)
        assert before.trace.channel.variables["IVR_REASON"] == "no_file_number"
        v1 = srv.flows.versions["ants-3400"]

        edit(flows / FLOW.name, "reason: no_file_number", "reason: sans_numero_v2")
        report = await srv.reload_line()
        assert report.ok and report.applied["ants-3400"] != v1
        [after] = await run_scenarios([no_number_call()], "127.0.0.1", port)
        assert after.trace.channel.variables["IVR_REASON"] == "sans_numero_v2"
        v2 = srv.flows.versions["ants-3400"]

        edit(flows / FLOW.name, "kind: say", "kind: speak")
        report = await srv.reload_line()
        assert not report.ok
        assert any(f"{flows / FLOW.name}:" in e and "unknown node kind 'speak'" in e for e in report.errors)
        assert srv.flows.versions["ants-3400"] == v2  # the running version stays
        [still] = await run_scenarios([no_number_call()], "127.0.0.1", port)
        assert still.passed and still.trace.channel.variables["IVR_REASON"] == "sans_numero_v2"


async def test_in_flight_call_finishes_on_the_version_it_started_with(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    async with embedded_server(flows_dir=flows) as srv:
        watcher = asyncio.create_task(srv._watch_line(0.05))
        old_call = asyncio.create_task(run_scenarios([slow_lookup_call()], "127.0.0.1", srv.agi_port,
                                                     records=srv.memory_records))
        await asyncio.sleep(0.5)  # the call is now waiting on the slow tracking lookup
        assert srv.supervisor.live
        edit(flows / FLOW.name, "reason: tracking_unavailable", "reason: suivi_en_panne")
        for _ in range(100):  # the watcher picks the change up
            await asyncio.sleep(0.05)
            if srv.flows.reloads > 1:
                break
        new_call = await run_scenarios([slow_lookup_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        [old] = await old_call
        watcher.cancel()
        assert old.trace.channel.variables["IVR_REASON"] == "tracking_unavailable"
        assert new_call[0].trace.channel.variables["IVR_REASON"] == "suivi_en_panne"
        assert old.record["flow_version"] != new_call[0].record["flow_version"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sighup_reloads_flows_in_a_running_server(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    port = _free_port()
    env = dict(os.environ, IVR_FLOW_WATCH_INTERVAL="0", IVR_LOG_FORMAT="json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ivr", "serve", "--agi-port", str(port), "--flows-dir", str(flows),
         "--records", str(tmp_path / "calls.jsonl"), "--allow-sim-clock"],
        stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        edit(flows / FLOW.name, "reason: no_file_number", "reason: apres_sighup")
        time.sleep(0.2)
        [r] = asyncio.run(run_scenarios([no_number_call()], "127.0.0.1", port))
        assert r.trace.channel.variables["IVR_REASON"] == "no_file_number"  # no polling: not yet
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        [r] = asyncio.run(run_scenarios([no_number_call()], "127.0.0.1", port))
        assert r.trace.channel.variables["IVR_REASON"] == "apres_sighup"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert proc.returncode == 0
