"""Hot reload: valid changes apply to new calls, invalid ones are refused, in-flight calls keep their version."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ivr.lab.ports import free_port
from ivr.server.embedded import embedded_server
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import DEADLINE, until, wait_until
from tests.clocks import OPEN
from tests.holds import lookups_held

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"


def no_number_call() -> Scenario:
    return Scenario.model_validate({"name": "t", "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}]})


def lookup_call() -> Scenario:
    steps = [{"kind": "press", "digits": d} for d in ("1", "1", "5458443881#", "1")]
    return Scenario.model_validate({"name": "recherche", "call": {"at": OPEN}, "steps": steps})


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
    # The first call waits in its lookup (the tracking service does not answer; the « un instant » it
    # hears is not over) while the flow changes under it.
    in_lookup = PromptGate("un_instant")
    async with embedded_server(flows_dir=flows) as srv, lookups_held(srv.settings.tracking_url):
        watcher = asyncio.create_task(srv._watch_line(0.05))
        old_call = asyncio.create_task(run_scenarios([lookup_call()], "127.0.0.1", srv.agi_port,
                                                     records=srv.memory_records, gate=in_lookup))
        await until(lambda: in_lookup.held == 1, "the first call in its lookup")
        edit(flows / FLOW.name, "reason: tracking_unavailable", "reason: suivi_en_panne")
        await until(lambda: srv.flows.reloads > 1, "the watcher to pick the change up")
        in_lookup.release()
        new_call = await run_scenarios([lookup_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        [old] = await old_call
        watcher.cancel()
        assert old.trace.channel.variables["IVR_REASON"] == "tracking_unavailable"
        assert new_call[0].trace.channel.variables["IVR_REASON"] == "suivi_en_panne"
        assert old.record["flow_version"] != new_call[0].record["flow_version"]


def test_sighup_reloads_flows_in_a_running_server(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    port = free_port()
    env = dict(os.environ, IVR_FLOW_WATCH_INTERVAL="0", IVR_LOG_FORMAT="json", IVR_STORE=str(tmp_path / "s.sqlite"),
               IVR_ACCEPTED_DIR=str(tmp_path / "accepted"), IVR_DYNAMIC_PROMPTS_DIR=str(tmp_path / "readbacks"))
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--agi-port", str(port), "--admin-port", "-1",
             "--audiosocket-port", "0", "--flows-dir", str(flows), "--records", str(tmp_path / "calls.jsonl"),
             "--allow-sim-clock"], stderr=out, env=env)

    def reason() -> str | None:
        [r] = asyncio.run(run_scenarios([no_number_call()], "127.0.0.1", port))
        return r.trace.channel.variables.get("IVR_REASON")

    try:
        wait_until(lambda: _listening(port) or proc.poll() is not None, "the server's FastAGI port",
                   seen=lambda: log.read_text()[-2000:])
        edit(flows / FLOW.name, "reason: no_file_number", "reason: apres_sighup")
        assert reason() == "no_file_number"  # no polling (interval 0): nothing reloads by itself
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: reason() == "apres_sighup", "calls to run the edited flow after SIGHUP", seen=reason)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=DEADLINE)
    assert proc.returncode == 0, log.read_text()[-2000:]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def test_the_reload_worker_leaves_when_its_server_is_killed(tmp_path):
    """The process that checks reloads away from the calls ends with its server, even one killed with
    SIGKILL (it used to stay for ever, one more per server start)."""
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import asyncio, os, sys, time\n"
         "from ivr.server.line import start_line_worker, _worker_pool\n"
         "asyncio.run(start_line_worker('ivr.ants3400.profile:PROFILE'))\n"
         "print(*_worker_pool()._processes, flush=True)\n"
         "time.sleep(600)\n"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    try:
        [worker] = [int(pid) for pid in parent.stdout.readline().split()]
        assert _alive(worker)
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: not _alive(worker), "the reload worker to leave after its server was killed")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
