"""What happens after the IVR, on the real line (issue 30, item 4): callers the IVR hands to the contractor
queue are answered by a baresip agent, give up while waiting, or leave with * for a callback that keeps
their turn, which the agent then takes to the caller's phone. The journeys and the figures the IVR computes
from the manager's events equal what the test saw itself (its own AMI connection, the phones)."""

from __future__ import annotations

import asyncio

from ivr.sim.scenario import Scenario
from ivr.sim.sip import AdminRecords, SipCaller
from ivr.waiting import until
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip

ANSWERED, ABANDONS, KEEPER = "0633000021", "0633000022", "0633000023"
#: Keys: an agent at the title menu (0), then « patienter » when a callback is offered before queueing (2).
TO_THE_QUEUE = ("0", "2")
#: The queue figures the test counts itself.
COUNTED = ("offered", "answered", "abandoned", "left")


def _scenario(name: str, caller: str, *keys: str) -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN, "caller": caller},
                                    "steps": [{"kind": "press", "digits": k} for k in keys]})


def _contractor(lab) -> dict:
    return lab.admin_get("/kpis")["windows"]["today"]["queues"]["contractor"]


async def _journey(lab, records: AdminRecords, sip_call_id: str, state: str) -> tuple[str, dict]:
    """The call's id and the journey on its page, once it is ``state`` and ended."""
    record = await records(sip_call_id)
    assert record is not None, f"no record of {sip_call_id}"
    page = f"/calls/{record['call_id']}"

    def ended() -> dict | None:
        journey = lab.admin_get(page).get("journey") or {}
        return journey if journey.get("state") == state and journey.get("finished") else None

    journey = await until(lambda: asyncio.to_thread(ended), f"the {state} journey of {record['call_id']}",
                          seen=lambda: lab.admin_get(page).get("journey"))
    return record["call_id"], journey


async def test_the_ivr_sees_each_callers_wait_answer_abandon_and_kept_turn_as_asterisk_does(
        lab, tmp_path, phone_port, report):
    # Nobody staffs the contractor queue: callers wait (the IVR offers its callback before queueing).
    assert await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 300)
    before = await asyncio.to_thread(_contractor, lab)
    records = AdminRecords(lab.admin_url, lab.secrets.admin_token)
    caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                       quiet_after_prompt=1.5, stay_in_queue=600, record=records)
    answered_leaves, abandon = asyncio.Event(), asyncio.Event()
    phone = Baresip(tmp_path / "phone", user=KEEPER, registrar=f"127.0.0.1:{phone_port}", sip_port=phone_port,
                    auto_answer=True)
    agent = Baresip(tmp_path / "agent2", user="agent2", password=lab.secrets.agent("agent2"),
                    registrar=f"127.0.0.1:{lab.sip_port}", register=True, auto_answer=True)
    tasks: list[asyncio.Task] = []
    try:
        async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
            tasks.append(asyncio.create_task(caller.call(_scenario("répondu", ANSWERED, *TO_THE_QUEUE),
                                                         leave=answered_leaves)))
            _, first = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=ANSWERED)
            tasks.append(asyncio.create_task(caller.call(_scenario("abandon", ABANDONS, *TO_THE_QUEUE),
                                                         leave=abandon)))
            _, second = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=ABANDONS)
            kept = await caller.call(_scenario("tour gardé", KEEPER, *TO_THE_QUEUE, "*", "1"))
            assert kept.ended_by == "ivr", kept
            _, third = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=KEEPER)
            _, held = await ami.wait_for("QueueCallerJoin", Queue="contractor", Channel="Local/hold@ivr-turn-hold-*")
            # The second caller gives up while waiting.
            abandon.set()
            _, gave_up = await ami.wait_for("QueueCallerAbandon", Uniqueid=second["Uniqueid"])
            # An agent logs in: the first caller is answered, talks, hangs up; then the kept turn is called.
            phone.start()
            agent.start()
            _, connect = await ami.wait_for("AgentConnect", Uniqueid=first["Uniqueid"], timeout=120)
            answered_leaves.set()
            _, complete = await ami.wait_for("AgentComplete", Uniqueid=first["Uniqueid"])
            await ami.wait_for("AgentConnect", Uniqueid=held["Uniqueid"], timeout=120)
            await asyncio.to_thread(phone.wait_log, r"Call established")
        first_call, second_call = [await t for t in tasks]
        # What the IVR says of each call, against the manager's own events.
        _, answered = await _journey(lab, records, first_call.call_id, "answered")
        assert (answered["queue"], answered["answered_in"], answered["agent"], answered["waited_s"],
                answered["talk_s"], answered["ended_by"]) == (
            "contractor", "contractor", connect["MemberName"], int(connect["HoldTime"]), int(complete["TalkTime"]),
            complete["Reason"])
        _, abandoned = await _journey(lab, records, second_call.call_id, "abandoned")
        assert abandoned["waited_s"] == int(gave_up["HoldTime"])
        kept_id, left = await _journey(lab, records, kept.call_id, "left")
        assert left["callback"]["reason"] == "kept_turn"

        def reached() -> dict | None:
            callback = (lab.admin_get(f"/calls/{kept_id}").get("journey") or {}).get("callback") or {}
            return callback if callback.get("state") == "done" else None

        callback = await until(lambda: asyncio.to_thread(reached), "the kept turn's callback reached")
        assert callback["attempts"] == 1
        # The figures: one more of each in the contractor queue today.
        expected = {"offered": 3, "answered": 1, "abandoned": 1, "left": 1}

        def moved() -> dict | None:
            now = _contractor(lab)
            delta = {k: now[k] - before[k] for k in COUNTED}
            return delta if delta == expected else None

        delta = await until(lambda: asyncio.to_thread(moved), "the queue figures counting the three callers",
                            seen=lambda: {k: _contractor(lab)[k] - before[k] for k in COUNTED})
        report(test="journeys", caller="ivr sip-call ×3 + baresip agent and phone",
               scenario="answered, abandoned in queue, kept turn answered",
               ami={"wait": connect["HoldTime"], "talk": complete["TalkTime"], "abandoned_after": gave_up["HoldTime"],
                    "kept_turn_position": held["Position"], "joins": [first["Position"], second["Position"],
                                                                      third["Position"]]},
               ivr={"wait": answered["waited_s"], "talk": answered["talk_s"], "abandoned_after": abandoned["waited_s"],
                    "callback": callback["state"]}, figures_delta=delta)
    finally:
        answered_leaves.set()
        abandon.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in (phone, agent):
            p.stop()
        await asyncio.to_thread(lab.wait_phone_gone, "agent2")
