"""Server + simulator over real TCP: the call path, bad input, hang-ups, load, shutdown."""

from __future__ import annotations

import asyncio
import json

import pytest

from ivr.calls.call import Call
from ivr.calls.outcomes import Outcome
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import DEADLINE, until
from tests.clocks import OPEN
from tests.doubles import StaticResolverDouble as StaticResolver


def scenario(steps=(), request="ants-3400", **expect) -> Scenario:
    return Scenario.model_validate(
        {"name": "t", "call": {"request": request, "at": OPEN, "caller": "0612345678"}, "steps": list(steps), "expect": expect}
    )


async def run(server, *scenarios, concurrency=1):
    return await run_scenarios(list(scenarios), "127.0.0.1", server.agi_port,
                               concurrency=concurrency, records=server.memory_records)


async def test_keypad_call_is_routed_and_recorded():
    async with embedded_server() as srv:
        [r] = await run(srv, scenario([{"kind": "press", "digits": "2"}, {"kind": "press", "digits": "2"}],
                                      outcome="routed:contractor",
                                      variables={"IVR_QUEUE": "contractor", "IVR_TITLE": "permis"}))
        assert r.passed, r.failures
        records = [json.loads(l) for l in srv.settings.records.read_text().splitlines()]
    assert len(records) == 1
    rec = records[0]
    assert rec["outcome"] == "routed:contractor"
    assert rec["caller"] == "06******78"  # masked
    assert rec["path"][:6] == ["answer", "horaires", "accueil", "annonce", "titre", "question_dossier"]
    assert rec["slots"] == {"title": "permis"}
    assert rec["agi_commands"] > 3


@pytest.mark.parametrize("when", ["during", "between", "eof"])
async def test_every_kind_of_hangup_records_caller_hangup(when):
    async with embedded_server() as srv:
        [r] = await run(srv, scenario([{"kind": "hangup", "when": when}], outcome="caller_hangup"))
        assert r.passed, r.failures
        assert r.record["hangup_node"] in ("accueil", "answer")
        # The IVR stops talking to a dead channel at once.
        assert r.trace.channel.commands_after_hangup <= 2
        await until(lambda: srv.agi.active_sessions == 0, "no AGI session left")


async def test_hangup_later_in_the_flow():
    async with embedded_server() as srv:
        [r] = await run(srv, scenario([{"kind": "silence"}, {"kind": "hangup"}], outcome="caller_hangup"))
        assert r.passed, r.failures
        assert r.record["hangup_node"] == "titre"


async def test_unknown_request_path_logs_to_asterisk_and_routes():
    async with embedded_server() as srv:
        [r] = await run(srv, scenario(request="nope", outcome="error_routed",
                                      variables={"IVR_QUEUE": "contractor", "IVR_REASON": "unknown_flow"}))
        assert r.passed, r.failures
        assert any("no flow for AGI request path 'nope'" in v for v in r.trace.channel.verbose)
        assert "no flow" in r.record["error"]


class CrashingFlow:
    name, version = "crash", "t"

    async def run(self, call: Call) -> None:
        await call.channel.answer()
        raise RuntimeError("boom")


class MissingPromptFlow:
    name, version = "missing", "t"

    async def run(self, call: Call) -> None:
        await call.channel.stream_file("/nonexistent/prompt", "")
        call.finish(Outcome.SELF_SERVED)


async def test_flow_failure_apologises_and_routes_to_an_agent():
    resolver = StaticResolver({"crash": CrashingFlow(), "missing": MissingPromptFlow()})
    async with embedded_server(resolver=resolver) as srv:
        results = await run(
            srv,
            scenario(request="crash", outcome="error_routed", prompts=["desole_erreur"],
                     variables={"IVR_QUEUE": "contractor", "IVR_REASON": "ivr_error"}),
            scenario(request="missing", outcome="error_routed", prompts=["desole_erreur"]),
        )
        for r in results:
            assert r.passed, r.failures
        assert "boom" in results[0].record["error"]
        # A missing prompt answers -1 like a hang-up; the IVR checked the channel and did not give up on the caller.
        assert "PlaybackFailed" in results[1].record["error"]


async def _raw(port: int, payload: bytes, *, close: bool = False, read_timeout: float = DEADLINE) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    if close:
        writer.close()
        return b""
    try:
        return await asyncio.wait_for(reader.read(), read_timeout)
    finally:
        writer.close()


async def test_garbage_unterminated_and_oversized_environments_only_cost_their_own_connection():
    async with embedded_server(env_timeout=0.3, max_line=1024) as srv:
        good = asyncio.create_task(run(srv, scenario([{"kind": "press", "digits": "1"}], outcome="routed:contractor")))
        # Each bad peer is disconnected without a single command sent to it.
        assert await _raw(srv.agi_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
        assert await _raw(srv.agi_port, b"agi_request: agi://x/ants-3400\nagi_channel: PJSIP/a\n") == b""
        assert await _raw(srv.agi_port, b"agi_request: " + b"A" * 100_000 + b"\n\n") == b""
        assert await _raw(srv.agi_port, b"\x00\xff" * 50 + b"\n\n") == b""
        await _raw(srv.agi_port, b"agi_network: yes\n", close=True)  # closes mid-block
        [r] = await good
        assert r.passed, r.failures
        await until(lambda: srv.agi.active_sessions == 0, "no AGI session left")
        # A bad peer is not a call: only the good call has a record.
        assert len(srv.memory_records.records) == 1


async def test_oversized_reply_line_ends_that_call_with_an_outcome():
    async with embedded_server(max_line=1024) as srv:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.agi_port)
        writer.write(b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://h/ants-3400\n"
                     b"agi_uniqueid: big.1\nagi_callerid: 0611111111\nagi_threadid: 1\n\n")
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=" + b"9" * 5000 + b"\n")
        await writer.drain()
        rest = await asyncio.wait_for(reader.read(), DEADLINE)
        writer.close()
        [rec] = await until(lambda: srv.memory_records.records, "the call's record")
        assert rec.outcome == "error_routed"
        assert "longer than" in rec.error or "unreadable" in rec.error
        assert b"HANGUP" not in rest


async def test_two_hundred_calls_at_once():
    steps = [[{"kind": "press", "digits": str(1 + i % 4)}, {"kind": "press", "digits": "2"}]
             for i in range(4)] + [[{"kind": "hangup"}]]
    scenarios = [scenario(steps[i % 5], outcome="caller_hangup" if i % 5 == 4 else "routed:contractor")
                 for i in range(200)]
    async with embedded_server() as srv:
        results = await run(srv, *scenarios, concurrency=200)
        failed = [r.failures for r in results if not r.passed]
        assert failed == []
        assert len(srv.memory_records.records) == 200
        assert len({r.call_id for r in srv.memory_records.records}) == 200
        await until(lambda: srv.agi.active_sessions == 0, "no AGI session left")


class HeldFlowDouble:
    """A test double of a flow that answers, then waits until the test lets it go on to a queue."""

    name, version = "held", "t"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()

    async def run(self, call: Call) -> None:
        await call.channel.answer()
        self.started.set()
        await self.go_on.wait()
        await call.route("inhouse", "held_done")


async def test_graceful_shutdown_lets_live_calls_finish_and_refuses_new_ones():
    flow = HeldFlowDouble()
    async with embedded_server(resolver=StaticResolver({"held": flow})) as srv:
        port = srv.agi_port
        calls = asyncio.create_task(run(srv, scenario(request="held", outcome="routed:inhouse")))
        await asyncio.wait_for(flow.started.wait(), DEADLINE)
        stopping = asyncio.create_task(srv.agi.stop(grace=DEADLINE))
        # New calls are refused while the live one finishes.
        await until(_refused(port), "the server to stop accepting calls")
        flow.go_on.set()
        await stopping
        [r] = await calls
        assert r.passed, r.failures


def _refused(port: int):
    async def check() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return True
        writer.close()
        return False
    return check


async def test_shutdown_past_the_grace_period_still_routes_the_caller():
    flow = HeldFlowDouble()  # never let go: the grace period runs out
    async with embedded_server(resolver=StaticResolver({"held": flow})) as srv:
        calls = asyncio.create_task(run(srv, scenario(request="held")))
        await asyncio.wait_for(flow.started.wait(), DEADLINE)
        await srv.agi.stop(grace=0.2)
        [r] = await calls
        assert r.trace.channel.variables.get("IVR_QUEUE") == "contractor"
        [rec] = srv.memory_records.records
        assert rec.outcome == "error_routed" and rec.reason == "ivr_shutdown"
