"""A caller waiting in a queue presses *: the IVR offers a callback that keeps their place, books it and
originates a placeholder at that place (issue 29, item 4). The real line shows it end to end
(tests/e2e/test_queue_wait.py); here, every branch against the simulated channel and manager."""

from __future__ import annotations

import pytest

from ivr.routing.keep_turn import TurnRequest
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import until
from tests.test_routing import ami, ami_settings, connected  # noqa: F401 (the fixture)


def left_queue(*keys: str, caller: str = "0612345678", queue: str = "contractor", position: str = "3",
               presentation: int = 0) -> Scenario:
    """What [ivr-queue-leave] sends the IVR when a waiting caller presses *."""
    return Scenario.model_validate({
        "name": "tour", "call": {"request": "keep-turn", "caller": caller, "presentation": presentation,
                                 "args": [f"queue={queue}", f"position={position}", "priority=10"]},
        "steps": [{"kind": "press", "digits": k} for k in keys]})


async def test_a_confirmed_callback_keeps_the_place_with_a_placeholder(ami):  # noqa: F811
    ami.originate_result = "ignore"  # the placeholder waits in the queue: no answer yet
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [r] = await run_scenarios([left_queue("1")], "127.0.0.1", srv.agi_port)
        ch = r.trace.channel
        assert ch.variables.get("IVR_OUTCOME") == "callback"
        assert [p for p in ch.prompts if p.startswith("tour_")] == ["tour_garde"]
        [held] = await srv.store.callbacks("holding")
        assert (held.number, held.queue, held.reason, held.context) == (
            "0612345678", "contractor", "kept_turn", {"position": "3", "uniqueid": r.trace.uniqueid})
        # The call's page finds it from the channel (the call left the queue for it).
        assert (await srv.store.find_callback(uniqueid=r.trace.uniqueid)).id == held.id
        await until(lambda: ami.originates, "the placeholder's originate")
        sent = ami.originates[-1]
        assert sent["channel"] == "Local/hold@ivr-turn-hold" and sent["context"] == "ivr-turn-call"
        for variable in ("IVR_QUEUE=contractor", "IVR_POSITION=3", "IVR_PRIORITY=10",
                         "IVR_CALLBACK_NUMBER=0612345678", f"IVR_CALLBACK_ID={held.id}"):
            assert variable in sent["variable"]
        assert len(srv.turns.holding) == 1  # waiting for the turn, bounded
        # No call record: the caller's call was recorded when it reached the queue.
        assert srv.memory_records.records == []
        # The dialler never dials a kept turn: its placeholder does, when the turn comes.
        ami.set_load("contractor", logged_in=1, available=1, callers=0)
        await srv.ami.refresh_queues()
        assert await srv.dialer.tick() == 0


async def test_the_turn_coming_marks_the_callback_done(ami):  # noqa: F811
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        await run_scenarios([left_queue("1")], "127.0.0.1", srv.agi_port)
        await until(lambda: not srv.turns.holding, "the placeholder answered")
        assert [c.state for c in await srv.store.callbacks()] == ["done"]


@pytest.mark.parametrize(("scenario", "prompt"), [
    (left_queue("2"), "tour_reste"),                       # the caller stays on the line
    (left_queue(), "tour_reste"),                          # says nothing: stays too
    (left_queue("1", caller="0899123456"), "tour_impossible"),  # a number that is not called back
    (left_queue("1", presentation=32), "tour_impossible"),     # a withheld number
    (left_queue("1", queue="vip"), "tour_impossible"),          # not a queue of the line
    (left_queue("1", position="0"), "tour_impossible"),
    (left_queue("1", position="x"), "tour_impossible"),
], ids=["declined", "silent", "premium-number", "withheld", "unknown-queue", "position-0", "position-x"])
async def test_otherwise_the_caller_goes_back_to_their_place(ami, scenario, prompt):  # noqa: F811
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [r] = await run_scenarios([scenario], "127.0.0.1", srv.agi_port)
        ch = r.trace.channel
        assert "IVR_OUTCOME" not in ch.variables  # the dialplan queues them again at their place
        assert [p for p in ch.prompts if p.startswith("tour_")] == [prompt]
        assert await srv.store.callbacks() == [] and ami.originates == []


async def test_without_the_manager_nothing_could_hold_the_place():
    async with embedded_server() as srv:
        [r] = await run_scenarios([left_queue("1")], "127.0.0.1", srv.agi_port)
        assert "IVR_OUTCOME" not in r.trace.channel.variables
        assert r.trace.channel.prompts == ["tour_impossible"]  # told, never left in silence


def test_a_request_names_a_queue_of_the_line_and_a_place():
    queues = ("contractor", "inhouse")
    assert TurnRequest.parse("inhouse", "2", "", queues) == TurnRequest("inhouse", 2, 0)
    assert TurnRequest.parse("inhouse", "2", "10", queues) == TurnRequest("inhouse", 2, 10)
    assert TurnRequest.parse("inhouse", "2", "999", queues) == TurnRequest("inhouse", 2, 0)
    for queue, position in (("x", "2"), ("inhouse", "1001"), ("inhouse", "-1"), (None, "2"), ("inhouse", None)):
        assert TurnRequest.parse(queue, position, "", queues) is None
