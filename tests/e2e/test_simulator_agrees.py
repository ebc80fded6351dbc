"""The simulator must speak like this Asterisk: the environment block and replies a real PJSIP call
through the product's dialplan produced (seen by a FastAGI relay), against what the simulator sends.

The sessions are also written as captures (``var/e2e/captures/``, the format of ../shared/asterisk);
``tests/captures/lab-3499`` is one of them, kept for the fast suite.
"""

from __future__ import annotations

import re
from pathlib import Path

from ivr.edges.agi.protocol import build_environment
from ivr.sim.channel import build_env_block
from ivr.sim.peer import _dialplan_args
from ivr.sim.scenario import load_scenario
from ivr.sim.sip import AdminRecords, SipCaller

ROOT = Path(__file__).resolve().parents[2]
#: Values the dialplan decides; the others (channel name, ids, thread) differ by nature.
DIALPLAN_FIELDS = ("agi_network", "agi_network_script", "agi_language", "agi_type", "agi_context",
                   "agi_extension", "agi_priority", "agi_dnid", "agi_callerid")


def _env_lines(block: str) -> list[tuple[str, str]]:
    return [tuple(line.split(": ", 1)) if ": " in line else (line.rstrip(":"), "")
            for line in block.splitlines() if line]


async def test_the_simulators_environment_block_matches_a_real_call_through_the_dialplan(lab):
    scenario = load_scenario(ROOT / "ivr" / "sim" / "scenarios" / "04-closed.yaml")
    caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                       stay_in_queue=1, record=AdminRecords(lab.admin_url, lab.secrets.admin_token))
    result = await caller.call(scenario)
    record = await caller.record(result.call_id)
    assert record["outcome"] == "closed_hours"
    session = next(s for s in list(lab.tap.tap.sessions)
                   if s and f"sip_call_id={result.call_id}" in s[0]["data"])
    lab.tap.tap.write_capture(ROOT / "var" / "e2e" / "captures" / "3499-closed" / "agi.jsonl", session)

    real = _env_lines(session[0]["data"])
    sim = _env_lines(build_env_block(scenario.call, host="127.0.0.1", port=lab.agi_port, uniqueid="1.1",
                                     args=_dialplan_args(scenario, "1.1")))
    assert [k for k, _ in sim] == [k for k, _ in real]
    real_env, sim_env = dict(real), dict(sim)
    assert {f: sim_env[f] for f in DIALPLAN_FIELDS} == {f: real_env[f] for f in DIALPLAN_FIELDS}
    assert real_env["agi_arg_1"] == f"sip_call_id={result.call_id}"
    assert real_env["agi_arg_2"] == sim_env["agi_arg_2"] == f"sim_now={scenario.call.at.isoformat()}"
    assert build_environment([l for l in session[0]["data"].splitlines() if l]).request_path == "ants-3400"
    # Replies have the shape the simulator gives them (the closed line: answer, one prompt, hang up).
    replies = [e["data"] for e in session[1:] if e["dir"] == "asterisk->ivr"]
    assert all(re.fullmatch(r"200 result=-?\d+( endpos=\d+)?\n", r) for r in replies), replies
