"""A call's journey after the IVR: the queue events Asterisk sends, in the order app_queue.c sends them
(a capture of a real Asterisk 22 in ../shared/asterisk/route/ami.jsonl shows Leave before AgentConnect)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ivr.calls.journey import Journey, JourneyTracker
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.waiting import DEADLINE, until
from tests.test_routing import ami, ami_settings, call, connected  # noqa: F401 (the fixture)

CALL = "1795429103.2"


def event(name: str, uniqueid: str = CALL, **fields) -> dict:
    base = {"Event": name, "Channel": "PJSIP/trunk-00000001", "Uniqueid": uniqueid, "Linkedid": uniqueid,
            "Queue": "inhouse"}
    return {**base, **{k: v if isinstance(v, list) else str(v) for k, v in fields.items()}}


def join(uniqueid: str = CALL, node: str = "vm1", position: int = 3) -> dict:
    return event("QueueCallerJoin", uniqueid, Position=position, Count=position,
                 ChanVariable=[f"IVR_NODE={node}", "IVR_QUEUE=inhouse", "IVR_SIP_CALL_ID=abc@host"])


def run(tracker: JourneyTracker, *steps: tuple[float, dict]) -> list[Journey]:
    changed: list[Journey] = []
    for at, ev in steps:
        changed += tracker.tick(at) + tracker.feed(ev, at)
    return changed


def test_an_answered_call_keeps_its_wait_its_team_and_its_talk_time():
    tracker = JourneyTracker("vm1")
    changed = run(tracker,
                  (100.0, join()),
                  (142.0, event("QueueCallerLeave", Position=1, Count=0)),
                  (142.0, event("AgentConnect", HoldTime=42, RingTime=3, MemberName="Agent 1",
                                Interface="PJSIP/agent1")),
                  (322.0, event("AgentComplete", HoldTime=42, TalkTime=180, Reason="agent")))
    journey = changed[-1]
    assert (journey.state, journey.finished, journey.waited_s, journey.answered_in, journey.agent,
            journey.talk_s, journey.ended_by, journey.position) == (
        "answered", True, 42, "inhouse", "Agent 1", 180, "agent", 3)
    # To be saved at the join, at the answer and at the end (the agent's leg closing the journey).
    assert len(changed) == 3 and all(j is journey for j in changed)
    assert tracker.open == {}


def test_a_caller_who_hangs_up_while_waiting_abandoned_after_their_wait():
    tracker = JourneyTracker("vm1")
    changed = run(tracker, (0.0, join()), (75.0, event("QueueCallerAbandon", Position=2, OriginalPosition=3,
                                                       HoldTime=75)),
                  (75.0, event("QueueCallerLeave", Position=2, Count=1)))
    assert (changed[-1].state, changed[-1].waited_s, changed[-1].finished) == ("abandoned", 75, True)


def test_a_caller_who_leaves_with_a_key_and_comes_back_waits_on_in_the_same_journey():
    tracker = JourneyTracker("vm1", settle=30)
    changed = run(tracker, (0.0, join()), (50.0, event("QueueCallerLeave", Position=2, Count=2)),
                  (60.0, join(position=2)),
                  (90.0, event("QueueCallerLeave", Position=1, Count=0)),
                  (90.0, event("AgentConnect", HoldTime=30, MemberName="Agent 1")))
    journey = changed[-1]
    assert (journey.state, journey.joins, journey.waited_s, journey.finished) == ("answered", 2, 80, False)


def test_a_caller_who_leaves_with_a_key_for_good_left_once_the_settling_time_is_over():
    tracker = JourneyTracker("vm1", settle=30)
    changed = run(tracker, (0.0, join()), (50.0, event("QueueCallerLeave", Position=2, Count=2)))
    assert tracker.tick(79.0) == []
    [left] = tracker.tick(80.0)
    assert (left.state, left.waited_s, left.finished) == ("left", 50, True)
    assert changed[0] is left


def test_only_this_nodes_calls_are_followed_and_forged_fields_are_not_believed():
    tracker = JourneyTracker("vm1")
    assert tracker.feed(join(node="vm2"), 0.0) == []       # vm2 follows its own call
    assert tracker.feed(event("QueueCallerJoin", ChanVariable="IVR_QUEUE="), 0.0) == []  # no node took it
    assert tracker.feed(join(uniqueid="x; DROP TABLE"), 0.0) == [] and tracker.refused == 1
    [journey] = tracker.feed(join(), 0.0)
    [answered] = tracker.feed(event("AgentConnect", HoldTime="99999999", MemberName="a\x1b[31m"), 1.0)
    assert (answered.waited_s, answered.agent) == (0, "")
    # Events of calls it does not follow change nothing.
    assert tracker.feed(event("AgentComplete", uniqueid="1.1", TalkTime=5), 2.0) == []


def test_a_journey_keeps_the_title_type_the_ivr_passed_on_and_nothing_forged():
    tracker = JourneyTracker("vm1", segment_variable="IVR_TITLE")

    def titled(uniqueid: str, title: str) -> dict:
        return event("QueueCallerJoin", uniqueid, Position=1, Count=1,
                     ChanVariable=["IVR_NODE=vm1", "IVR_QUEUE=inhouse", f"IVR_TITLE={title}"])

    assert [j.segment for j in tracker.feed(titled("1.1", "passeport"), 0.0)] == ["passeport"]
    assert [j.segment for j in tracker.feed(titled("1.2", "cni'; DROP TABLE journeys"), 0.0)] == [""]
    # A line without a segment keeps none.
    assert [j.segment for j in JourneyTracker("vm1").feed(titled("1.3", "permis"), 0.0)] == [""]


def test_the_manager_reports_the_profiles_segment_variable_with_each_queue_event():
    from ivr.ants3400.profile import PROFILE
    from ivr.dialplan import context_variable

    conf = (Path(__file__).resolve().parent.parent / "asterisk" / "etc" / "manager.conf").read_text()
    [channelvars] = [line.split("=", 1)[1] for line in conf.splitlines() if line.startswith("channelvars")]
    assert PROFILE.segment_context and context_variable(PROFILE.segment_context) in channelvars.replace(" ", "").split(",")


def test_a_node_alone_follows_the_calls_the_ivr_queued_but_not_the_callbacks_legs():
    tracker = JourneyTracker("vm1", claims=False)

    def alone(uniqueid: str, *variables: str) -> dict:
        return event("QueueCallerJoin", uniqueid, Position=1, Count=1, ChanVariable=list(variables))

    assert tracker.feed(alone("1.1", "IVR_QUEUE="), 0.0) == []  # the safety net's (the IVR never decided)
    assert tracker.feed(alone("1.2", "IVR_QUEUE=inhouse", "IVR_REASON=callback"), 0.0) == []  # a kept turn's placeholder
    assert tracker.feed(alone("1.3", "IVR_NODE=vm2", "IVR_QUEUE=inhouse"), 0.0) == []  # claimed by another node
    [followed] = tracker.feed(alone("1.4", "IVR_NODE=", "IVR_QUEUE=inhouse", "IVR_REASON=agent_requested"), 0.0)
    assert followed.uniqueid == "1.4"


def test_a_journey_asterisk_never_ends_is_unknown_and_what_is_open_is_bounded():
    tracker = JourneyTracker("vm1", max_open=3600, capacity=2)
    run(tracker, (0.0, join("1.1")), (10.0, join("1.2")))
    [new, given_up] = tracker.feed(join("1.3"), 20.0)
    assert (new.uniqueid, new.state) == ("1.3", "waiting")
    assert (given_up.uniqueid, given_up.state, given_up.finished) == ("1.1", "unknown", True)
    assert list(tracker.open) == ["1.2", "1.3"]
    assert tracker.tick(3609.0) == []
    [expired] = tracker.tick(3610.0)
    assert (expired.uniqueid, expired.state) == ("1.2", "unknown")


def test_a_journey_round_trips_through_the_store_form():
    journey = Journey("1.1", "vm1", "contractor", 5.0, state="answered", waited_s=12, talk_s=30)
    assert Journey.from_dict({**journey.as_dict(), "later_field": 1}) == journey


# -- on a running server, with the simulated manager -------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"


def queue_events(uniqueid: str, node: str) -> list[list[tuple[str, object]]]:
    """What Asterisk sends when the caller waits 25 s in the contractor queue and agent2 talks 95 s (a node
    alone does not claim its calls: no IVR_NODE, the queue the IVR chose)."""
    where = [("Channel", "PJSIP/trunk-00000007"), ("Uniqueid", uniqueid), ("Linkedid", uniqueid),
             ("Queue", "contractor")]
    return [
        [("Event", "QueueCallerJoin"), *where, ("Position", 2), ("Count", 2),
         ("ChanVariable", "IVR_NODE="), ("ChanVariable", "IVR_QUEUE=contractor"),
         ("ChanVariable", "IVR_REASON=no_file_number")],
        [("Event", "QueueCallerLeave"), *where, ("Position", 1), ("Count", 0)],
        [("Event", "AgentConnect"), *where, ("MemberName", "agent2"), ("Interface", "PJSIP/agent2"),
         ("HoldTime", 25), ("RingTime", 2)],
        [("Event", "AgentComplete"), *where, ("MemberName", "agent2"), ("HoldTime", 25), ("TalkTime", 95),
         ("Reason", "caller")],
    ]


async def call_json(srv, call_id: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{srv.admin_url}/calls/{call_id}") as resp:
        assert resp.status == 200
        return await resp.json()


async def test_a_routed_calls_page_shows_its_wait_its_agent_and_its_talk_time(ami):  # noqa: F811
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        scenarios = load_scenarios([SCENARIOS / "02-no-file-number.yaml", SCENARIOS / "01-self-served-keypad.yaml"])
        routed, served = await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert routed.record["outcome"] == "routed:contractor"
        for fields in queue_events(routed.record["uniqueid"], srv.node):
            ami.emit(fields)
        journey = await until(lambda: _finished(srv, routed.record["uniqueid"]), "the journey saved")
        assert (journey["queue"], journey["waited_s"], journey["answered_in"], journey["agent"], journey["talk_s"],
                journey["ended_by"], journey["position"]) == ("contractor", 25, "contractor", "agent2", 95, "caller", 2)
        page = await call_json(srv, routed.record["call_id"])
        assert page["journey"]["state"] == "answered" and page["journey"]["talk_s"] == 95
        async with aiohttp.ClientSession() as http, http.get(f"{srv.admin_url}/calls/{routed.record['call_id']}",
                                                             headers={"Accept": "text/html"}) as resp:
            html = await resp.text()
        after = html[html.index("Après le SVI"):].replace("&#x27;", "'")
        for shown in ("pris par un conseiller", "contractor", "25 s", "agent2", "95 s", "l'appelant"):
            assert shown in after
        # A call the IVR served has no journey after it.
        assert (await call_json(srv, served.record["call_id"]))["journey"] is None


async def _finished(srv, uniqueid: str):
    journey = (await srv.store.journeys([uniqueid])).get(uniqueid)
    return journey if journey and journey["finished"] else None


async def test_a_routed_call_of_which_nothing_was_seen_is_unknown_not_guessed(ami):  # noqa: F811
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [routed] = await run_scenarios(load_scenarios([SCENARIOS / "02-no-file-number.yaml"]), "127.0.0.1",
                                       srv.agi_port, records=srv.memory_records)
        page = await call_json(srv, routed.record["call_id"])
        assert page["journey"] == {"state": "unknown", "why": "no queue event was seen for this call"}
    async with embedded_server() as srv:  # no manager: the queues are not followed, and the page says so
        [routed] = await run_scenarios(load_scenarios([SCENARIOS / "02-no-file-number.yaml"]), "127.0.0.1",
                                       srv.agi_port, records=srv.memory_records)
        journey = (await call_json(srv, routed.record["call_id"]))["journey"]
        assert journey["state"] == "unknown" and "IVR_AMI_USER" in journey["why"]


async def test_a_callback_booked_in_the_ivr_shows_its_attempts_and_result(ami):  # noqa: F811
    ami.set_load("contractor", logged_in=3, available=0, callers=9, talk_time=240)
    async with embedded_server(**ami_settings(ami, store_call_timeout=DEADLINE / 2)) as srv:
        await connected(srv)
        [r] = await run_scenarios([call("1", "2", "1", outcome="callback", prompts=["offre_rappel"])],
                                  "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.passed, r.failures
        journey = (await call_json(srv, r.record["call_id"]))["journey"]
        assert journey["state"] == "callback"
        assert {k: journey["callback"][k] for k in ("queue", "state", "attempts")} == {
            "queue": "contractor", "state": "pending", "attempts": 0}
        ami.set_load("contractor", logged_in=3, available=1, callers=0)
        await srv.ami.refresh_queues()
        assert await srv.dialer.tick() == 1
        callback = (await call_json(srv, r.record["call_id"]))["journey"]["callback"]
        assert (callback["state"], callback["attempts"]) == ("done", 1)


async def test_a_caller_who_left_the_queue_to_keep_their_turn_shows_that_callback(ami):  # noqa: F811
    ami.originate_result = "ignore"  # the placeholder waits in the queue
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [routed] = await run_scenarios(load_scenarios([SCENARIOS / "02-no-file-number.yaml"]), "127.0.0.1",
                                       srv.agi_port, records=srv.memory_records)
        uniqueid = routed.record["uniqueid"]
        join, leave = queue_events(uniqueid, srv.node)[:2]
        ami.emit(join)
        ami.emit(leave)  # the caller pressed *: [ivr-queue-leave] asks the IVR on the same channel
        kept = Scenario.model_validate({
            "name": "tour", "call": {"request": "keep-turn", "caller": "0612345678", "uniqueid": uniqueid,
                                     "args": ["queue=contractor", "position=2", "priority=0"]},
            "steps": [{"kind": "press", "digits": "1"}]})
        [turn] = await run_scenarios([kept], "127.0.0.1", srv.agi_port)
        assert turn.trace.channel.variables.get("IVR_OUTCOME") == "callback"
        srv.journeys.tracker.settle = 0  # the caller did not come back: left (no waiting for the settling time)
        journey = await until(lambda: _finished(srv, uniqueid), "the journey ended")
        assert journey["state"] == "left"
        page = (await call_json(srv, routed.record["call_id"]))["journey"]
        assert (page["state"], page["callback"]["reason"], page["callback"]["state"]) == ("left", "kept_turn", "holding")
