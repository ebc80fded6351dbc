"""What happens after the IVR, on the real line (issue 30, item 4): callers the IVR hands to the contractor
queue are answered by a baresip agent, give up while waiting, or leave with * for a callback that keeps
their turn, which the agent then takes to the caller's phone. The journeys and the figures the IVR computes
from the manager's events equal what the test saw itself (its own AMI connection, the phones)."""

from __future__ import annotations

import asyncio

from ivr.sim.sip import AdminRecords
from ivr.waiting import until
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.calls import TO_THE_QUEUE, contractor_queue, keyed

ANSWERED, ABANDONS, KEEPER = "0633000021", "0633000022", "0633000023"
#: The queue figures the test counts itself.
COUNTED = ("offered", "answered", "abandoned", "left")


def _contractor(lab) -> dict:
    return lab.admin_get("/kpis")["windows"]["today"]["queues"]["contractor"]


def _settled(lab) -> dict | None:
    figures = _contractor(lab)
    return figures if figures["waiting"] == 0 else None


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
    async with contractor_queue(lab, tmp_path, phone_port, KEEPER) as line, \
            AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
        # The figures before: once they show nobody waiting (the callers of the tests before have ended, and
        # the IVR has read their journeys since), else their ends would count here.
        before = await until(lambda: asyncio.to_thread(_settled, lab), "no caller waiting in the IVR's figures",
                             seen=lambda: _contractor(lab))
        first_call, answered_leaves = line.wait_in_queue(keyed("répondu", ANSWERED, *TO_THE_QUEUE))
        _, first = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=ANSWERED)
        second_call, abandon = line.wait_in_queue(keyed("abandon", ABANDONS, *TO_THE_QUEUE))
        _, second = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=ABANDONS)
        kept = await line.caller.call(keyed("tour gardé", KEEPER, *TO_THE_QUEUE, "*", "1"))
        assert kept.ended_by == "ivr", kept
        _, third = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=KEEPER)
        _, held = await ami.wait_for("QueueCallerJoin", Queue="contractor", Channel="Local/hold@ivr-turn-hold-*")
        # The second caller gives up while waiting.
        abandon.set()
        _, gave_up = await ami.wait_for("QueueCallerAbandon", Uniqueid=second["Uniqueid"])
        # An agent logs in: the first caller is answered, talks, hangs up; then the kept turn is called.
        line.phone.start()
        line.agent.start()
        _, connect = await ami.wait_for("AgentConnect", Uniqueid=first["Uniqueid"], timeout=120)
        answered_leaves.set()
        _, complete = await ami.wait_for("AgentComplete", Uniqueid=first["Uniqueid"])
        await ami.wait_for("AgentConnect", Uniqueid=held["Uniqueid"], timeout=120)
        await asyncio.to_thread(line.phone.wait_log, r"Call established")
        records = line.records
        first_call, second_call = await first_call, await second_call
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
