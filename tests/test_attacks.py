"""Security round 3, replayed over real sockets: what an administrator's file, a forged AGI environment
or AMI event, a flow field or a database can do to the line — each attack, and what happens now.
(The SIP attacks run on the real Asterisk: tests/e2e/test_sip_attacks.py.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import DEADLINE, until
from tests.clocks import OPEN
from tests.conftest import load_capture

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"


def _chained_flow(nodes: int, *, last_kind: str = "set") -> str:
    """The shipped flow with ``nodes`` set-nodes chained between the opening hours and the welcome."""
    chain = "".join(f"  etape{i}:\n    kind: {last_kind if i == nodes - 1 else 'set'}\n"
                    f"    values: {{etape: \"{i}\"}}\n    next: {f'etape{i + 1}' if i < nodes - 1 else 'accueil'}\n"
                    for i in range(nodes))
    text = FLOW.read_text(encoding="utf-8")
    return text.replace("    open: accueil\n", "    open: etape0\n").replace("\nnodes:\n", "\nnodes:\n" + chain)


def _call() -> Scenario:
    return Scenario.model_validate({"name": "après", "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}],
                                    "expect": {"outcome": "routed:contractor"}})


# -- 4. the checker: no recursion limit, never a crash ------------------------------------------


def test_a_flow_of_a_thousand_chained_nodes_is_checked_like_any_other(tmp_path):
    """1,200 chained nodes (the audit's file) stopped the checker with a RecursionError; now it is checked
    and refused at its line, because a call would run them all without a question (the interpreter fails
    such a call to an agent); 300 pass, and run."""
    path = tmp_path / "ants-3400.yaml"
    path.write_text(_chained_flow(1200), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text == "  horaires:")
    assert f"{path}:{line}: node 'horaires': 1204 nodes in a row (horaires → … → fin_annonce) run without asking" \
        in done.stderr
    path.write_text(_chained_flow(300), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "323 nodes" in done.stdout, done.stderr[-2000:]


async def test_a_long_flow_reloads_over_http_and_a_broken_one_is_refused_at_its_line(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    async with embedded_server(flows_dir=flows) as srv, aiohttp.ClientSession() as http:
        reload = f"http://127.0.0.1:{srv.admin.bound_port}/flows/reload"
        (flows / FLOW.name).write_text(_chained_flow(300), encoding="utf-8")
        async with http.post(reload) as resp:
            assert resp.status == 200 and (await resp.json())["ok"]
        version = srv.flows.versions["ants-3400"]
        (flows / FLOW.name).write_text(_chained_flow(300, last_kind="parle"), encoding="utf-8")
        async with http.post(reload) as resp:
            report = await resp.json()
        assert resp.status == 422
        [error] = report["errors"]
        line = next(i for i, text in enumerate((flows / FLOW.name).read_text().splitlines(), 1) if "kind: parle" in text)
        assert error.startswith(f"{flows / FLOW.name}:{line}: ") and "unknown node kind 'parle'" in error
        assert srv.flows.versions["ants-3400"] == version  # the running (long) flow stays, and serves
        [after] = await run_scenarios([_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert after.passed, after.failures


def test_a_checker_that_breaks_rejects_the_file_at_a_line_instead_of_crashing(monkeypatch):
    from ivr.ants3400.profile import PROFILE
    from ivr.config import DEFAULT_PROMPTS_DIR, DEFAULT_RULES
    from ivr.engine import validate
    from ivr.server.checks import declared_lookups
    from ivr.server.line import LineSources, load_line

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(validate, "_check_graph", broken)
    sources = LineSources([FLOW], DEFAULT_PROMPTS_DIR / "catalog.yaml", DEFAULT_RULES)
    config, errors = load_line(sources, PROFILE, declared_lookups(PROFILE))
    assert config is None
    assert errors == [f"{FLOW}:1: this file could not be checked (RecursionError: maximum recursion depth exceeded): "
                      "it is rejected, the running version stays; please report it"]


async def test_a_restart_with_a_file_the_checker_cannot_take_serves_the_last_accepted_copy(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    accepted = tmp_path / "accepted"
    async with embedded_server(flows_dir=flows, accepted_dir=accepted) as srv:
        version = srv.line_state.version
    (flows / FLOW.name).write_text(_chained_flow(1200, last_kind="parle"), encoding="utf-8")
    async with embedded_server(flows_dir=flows, accepted_dir=accepted) as srv:
        assert srv.line_state.serving == "accepted copy" and srv.line_state.version == version
        assert any("unknown node kind 'parle'" in e for e in srv.line_state.rejected)
        [call] = await run_scenarios([_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert call.passed, call.failures


# -- 7. drawings: nothing from a flow file can add a statement or an attribute --------------------

EVIL_VAR = 'x"| n_titre\nclick n_titre href "javascript:alert(1)"\n%% '
EVIL_TEXT = 'Type"]\n    click n_titre call alert(1)\n    n_z["'


def _evil_flow(folder: Path) -> Path:
    """The shipped flow, valid, with a branch variable and a description written to break out of a drawing."""
    import json

    text = FLOW.read_text(encoding="utf-8")
    name = json.dumps(EVIL_VAR)  # a JSON string is a YAML double-quoted scalar
    text = text.replace("{var: numero_ressaisi,", "{var: " + name + ",")
    text = text.replace("values: {numero_ressaisi:", "values: {" + name + ":")
    text = text.replace("description: Type de titre", "description: " + json.dumps(EVIL_TEXT))
    folder.mkdir()
    (folder / FLOW.name).write_text(text, encoding="utf-8")
    return folder


MERMAID_STATEMENT = (r'^(flowchart TD|    n_\w+(\{"[^"\n]*"\}|\(\["[^"\n]*"\]\)|\["[^"\n]*"\])'
                     r'|    n_\w+ (-->|-\.->)\|"[^"\n]*"\| n_\w+|    classDef start stroke-width:3px|    class n_\w+ start)$')


async def test_drawings_keep_every_flow_field_inside_its_label(tmp_path):
    import json
    import re

    flows = _evil_flow(tmp_path / "flows")
    async with embedded_server(flows_dir=flows) as srv, aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{srv.admin.bound_port}/flows/ants-3400/graph"
        async with http.get(base, params={"format": "mermaid"}) as resp:
            mermaid = await resp.text()
        async with http.get(base, params={"format": "dot"}) as resp:
            dot = await resp.text()
    # Mermaid: only the statements the drawing writes (a node, an arrow, the start's style), none injected.
    assert resp.status == 200 and mermaid.startswith("flowchart TD")
    assert [line for line in mermaid.splitlines() if not re.match(MERMAID_STATEMENT, line)] == []
    assert mermaid.count("\n    n_") == 23 + len(re.findall(r" --?\.?-?>", mermaid))
    # DOT: Graphviz reads one node per flow node (and the legend), with no link attribute, the text intact.
    if shutil.which("dot"):
        layout = json.loads(subprocess.run(["dot", "-Tjson"], input=dot, capture_output=True, text=True,
                                           check=True).stdout)
        drawn = {o["name"] for o in layout["objects"] if "nodes" not in o}  # not the subgraph placing the legend
        assert len(drawn) == 24 and "legend" in drawn and "titre" in drawn
        assert not [k for o in layout["objects"] + layout.get("edges", []) for k in o if k.lower() in ("url", "href")]
        labels = [e.get("label", "") for e in layout.get("edges", [])]
        assert any(EVIL_VAR.strip() in label.replace("\\n", "\n") for label in labels), labels


# -- 2. a caller ID with line breaks cannot forge a call ------------------------------------------


def _asterisk_env(callerid: str) -> bytes:
    """The environment block a real Asterisk 22 sent for a call of the product's dialplan, with a raw caller
    ID put in (what Asterisk does with a From or P-Asserted-Identity user before the dialplan filters it)."""
    block = load_capture("lab-3499")[0]["data"].replace("agi_callerid: 0696653788", f"agi_callerid: {callerid}")
    return block.encode()


async def _answer_everything(port: int, env: bytes) -> list[str]:
    """Play Asterisk: send the block, answer each command ``200 result=0`` until the IVR closes."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env)
    commands = []
    while line := await asyncio.wait_for(reader.readline(), DEADLINE):
        commands.append(line.decode(errors="replace").rstrip("\n"))
        writer.write(b"200 result=0\n")
    writer.close()
    return commands


@pytest.mark.parametrize("callerid, problem", [
    ("0612\nagi_network_script: autre-flux", "agi_network_script sent twice"),
    ("0612\nagi_uniqueid: 1796000000.999\nagi_channel: PJSIP/autre-00000001", "agi_uniqueid sent twice"),
    ("0612\nagi_arg_2: sim_now=2026-11-29T03:00:00+01:00", "agi_arg_2 sent twice"),
    ("0612\n\nagi_network_script: autre-flux", "an empty line before agi_threadid"),
    ("0612\n}{ malformed", "a line that is not a field"),
])
async def test_a_forged_environment_is_handed_to_an_agent_with_its_one_record(callerid, problem):
    genuine = load_capture("lab-3499")[0]["data"]
    uniqueid = next(line.split(": ", 1)[1] for line in genuine.splitlines() if line.startswith("agi_uniqueid: "))
    async with embedded_server(node_name="ivr-1") as srv:
        commands = await _answer_everything(srv.agi_port, _asterisk_env(callerid))
        [record] = await until(lambda: srv.memory_records.records, "the call's record")
    # The node took the call (the dialplan does not mark it down), apologised and handed it to an agent.
    assert commands[0] == 'SET VARIABLE IVR_NODE "ivr-1"'
    assert any(c.startswith("STREAM FILE ") and "desole_erreur" in c for c in commands)
    assert 'SET VARIABLE IVR_QUEUE "contractor"' in commands and 'SET VARIABLE IVR_REASON "bad_environment"' in commands
    # Its one record names the genuine call: Asterisk's uniqueid, channel and flow, not the forged ones.
    assert (record.outcome, record.reason, record.request, record.uniqueid) == (
        "error_routed", "bad_environment", "ants-3400", uniqueid)
    assert record.channel == "PJSIP/tester-00000000" and problem in record.error


# -- 2. forged AMI events change nothing the IVR acts on ---------------------------------------


def _join(queue: str, uniqueid: str, count: object, *extra: tuple[str, object]) -> list[tuple[str, object]]:
    return [("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), ("Channel", "PJSIP/trunk-00000001"),
            ("CallerIDNum", "0612345678"), ("Uniqueid", uniqueid), ("Queue", queue), ("Position", "1"),
            ("Count", count), *extra]


async def test_events_a_caller_field_could_forge_do_not_move_the_queue_figures():
    from pydantic import SecretStr

    from ivr.sim.ami import SimAmi

    ami = SimAmi(auth_delay=0.2)
    await ami.start()
    try:
        async with embedded_server(ami_host="127.0.0.1", ami_port=ami.bound_port, ami_user="ivr",
                                   ami_secret=SecretStr("ivrsecret")) as srv:
            assert await srv.ami.wait_connected(DEADLINE)
            await srv.ami.refresh_queues()
            board = srv.ami.board
            forged = [
                _join("inhouse", "1796000000.1", "250"),                    # the audit's: 250 callers at once
                _join("inhouse", "1796000000.2", "1\x07"),                  # a control character
                _join("autre", "1796000000.3", "1"),                        # a queue Asterisk never listed
                _join("inhouse", "forged-id", "1"),                         # not an Asterisk channel id
                _join("inhouse", "1796000000.4", "1", ("ChanVariable", "IVR_NODE=ivr 9;DROP")),  # no such node name
            ]
            for event in forged:
                ami.emit(event, listed=False)
            ami.emit(_join("inhouse", "1796000000.5", "1"))  # a real one, after them
            await until(lambda: board.queues["inhouse"].callers == 1, "the real join on the board",
                        seen=lambda: board.queues["inhouse"].callers)
            assert set(board.queues) == {"inhouse", "contractor"}  # no queue made up
            assert srv.ami.refused_events == 4  # the count of 250 is refused by the board itself
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}/metrics") as resp:
                    text = await resp.text()
            assert 'ivr_queue_callers{queue="inhouse"} 1.0' in text and "ivr_ami_events_refused 4.0" in text
    finally:
        await ami.stop()


def test_the_reload_benchmarks_largest_flow_is_one_the_checker_accepts(tmp_path):
    """``ivr bench reload`` measures calls while the largest accepted flow is applied: it must be accepted."""
    from ivr.bench.reload import large_flow
    from ivr.yamlsrc import MAX_BYTES

    flows = tmp_path / "flows"
    shutil.copytree(FLOW.parent, flows)
    text = large_flow()
    (flows / "grand.yaml").write_text(text, encoding="utf-8")
    assert MAX_BYTES - 50_000 < len(text.encode()) <= MAX_BYTES
    done = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(flows)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "flow 'grand'" in done.stdout
