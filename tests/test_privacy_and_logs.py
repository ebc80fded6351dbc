"""Personal data never reaches logs or records unmasked; every call line carries its call_id."""

from __future__ import annotations

import io
import json

from ivr.logs import configure_logging
from ivr.privacy import mask_caller, mask_digits, mask_file_number
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from tests.clocks import OPEN


def test_masks():
    assert mask_caller("0612345678") == "06******78"
    assert mask_caller("+33 6 12 34 56 78") == "+33 * ** ** ** 78"
    assert mask_file_number("1234567890") == "********90"
    assert mask_digits("123") == "***"  # too short to show any part
    assert mask_caller("") == ""


async def test_call_logs_are_json_with_call_id_and_masked_caller():
    out = io.StringIO()
    configure_logging("json", "info", stream=out, force=True)
    sc = Scenario.model_validate({"name": "t", "call": {"caller": "0698765432", "at": OPEN},
                                  "steps": [{"kind": "press", "digits": "1"}]})
    async with embedded_server() as srv:
        await run_scenarios([sc], "127.0.0.1", srv.agi_port)
    lines = [json.loads(l) for l in out.getvalue().splitlines() if l.startswith("{")]
    call_lines = [l for l in lines if l.get("event") in ("call_started", "call_routed", "call_ended")]
    assert [l["event"] for l in call_lines] == ["call_started", "call_routed", "call_ended"]
    assert len({l["call_id"] for l in call_lines}) == 1
    assert "0698765432" not in out.getvalue()
    assert call_lines[0]["caller"] == "06******32"


def test_records_after_a_cut_line_start_on_a_fresh_line(tmp_path):
    from ivr.calls.record import CallRecord, JsonlRecordStore

    path = tmp_path / "calls.jsonl"
    path.write_text('{"call_id": "a", "outcome": "self_served"}\n{"call_id": "b", "outc')  # killed mid-write
    store = JsonlRecordStore(path)
    store.write(CallRecord(call_id="c", uniqueid="1", request="ants-3400", channel="x", caller="06", started_at="t",
                           outcome="caller_hangup"))
    store.close()
    lines = path.read_text().splitlines()
    assert json.loads(lines[-1])["call_id"] == "c" and len(lines) == 3


async def test_a_record_keeps_what_routing_saw_of_the_file_and_nothing_personal():
    from pathlib import Path

    from ivr.sim.scenario import load_scenarios

    scenario = Path(__file__).resolve().parent.parent / "ivr" / "sim" / "scenarios" / "03-complex-file-inhouse.yaml"
    async with embedded_server() as srv:
        [result] = await run_scenarios(load_scenarios([scenario]), "127.0.0.1", srv.agi_port,
                                       records=srv.memory_records)
        assert result.passed, result.failures
        [lookup] = result.record["lookups"]
        # The status and the yes/no facts the routing rules test (a file with an expertise centre: in-house).
        assert lookup["fields"] == {"complex": True, "expertise": True, "status": "expertise"}
        assert "3475047269" not in json.dumps(result.record)
