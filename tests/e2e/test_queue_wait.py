"""Waiting for an agent on the real line (issue 29, item 4): the queue tells each caller, in French, their
place; a caller who presses * leaves for a callback that keeps their place — a placeholder waits at
that place and, when the agent takes it, calls the caller's phone behind the trunk. Someone who
joined after them is still behind."""

from __future__ import annotations

import asyncio
import re

from ivr.sim.scenario import Scenario
from ivr.sim.sip import AdminRecords, SipCaller
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip

FIRST, KEEPER, LATER = "0633000011", "0633000012", "0633000013"
#: Keys: an agent at the title menu (0), then « patienter » when a callback is offered before queueing (2).
TO_THE_QUEUE = ("0", "2")


def _scenario(name: str, caller: str, *keys: str) -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN, "caller": caller},
                                    "steps": [{"kind": "press", "digits": k} for k in keys]})


def _played(lab, since: int) -> list[str]:
    """The sounds Asterisk found and played in French since ``since`` (its log: VERBOSE « Playing 'x.fmt'
    (language 'fr') »; a sound it lacks is skipped without a word)."""
    lines = lab.asterisk.log_lines(since, levels=("VERBOSE",))
    return [m.group(1) for line in lines
            for m in [re.search(r"Playing '([^']+)\.[a-z0-9]+' \(language 'fr'\)", line)] if m]


async def test_a_waiting_caller_hears_their_place_in_french_and_keeps_it_with_a_callback(
        lab, tmp_path, phone_port, report):
    # Nobody staffs the contractor queue: callers wait (and the IVR offers its callback before queueing).
    assert await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 300)
    since = lab.asterisk.log_size()
    caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                       quiet_after_prompt=1.5, stay_in_queue=600,
                       record=AdminRecords(lab.admin_url, lab.secrets.admin_token))
    first_leaves, later_leaves = asyncio.Event(), asyncio.Event()
    phone = Baresip(tmp_path / "phone", user=KEEPER, registrar=f"127.0.0.1:{phone_port}", sip_port=phone_port,
                    auto_answer=True)
    agent = Baresip(tmp_path / "agent2", user="agent2", password=lab.secrets.agent("agent2"),
                    registrar=f"127.0.0.1:{lab.sip_port}", register=True, auto_answer=True)
    tasks: list[asyncio.Task] = []
    try:
        async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
            tasks.append(asyncio.create_task(caller.call(_scenario("premier", FIRST, *TO_THE_QUEUE),
                                                         leave=first_leaves)))
            _, first = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=FIRST)
            # The second caller hears their place, presses *, confirms the callback (1): the call ends.
            kept = await caller.call(_scenario("garde son tour", KEEPER, *TO_THE_QUEUE, "*", "1"))
            assert kept.ended_by == "ivr", kept
            _, joined = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=KEEPER)
            assert joined["Position"] == "2"
            _, held = await ami.wait_for("QueueCallerJoin", Queue="contractor", Channel="Local/hold@ivr-turn-hold-*")
            assert held["Position"] == "2"  # the placeholder took the place the caller left
            tasks.append(asyncio.create_task(caller.call(_scenario("arrivé après", LATER, *TO_THE_QUEUE),
                                                         leave=later_leaves)))
            _, later = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=LATER)
            assert later["Position"] == "3"
            played = _played(lab, since)
            assert {"queue-youarenext", "queue-thereare", "digits/2", "queue-callswaiting",
                    "queue-thankyou"} <= set(played), played
            # An agent logs in: the first caller, then the kept turn — the caller's phone rings with the
            # agent on the line — and only then the caller who joined later.
            phone.start()
            agent.start()
            agent.wait_log(r"200 OK")
            _, served = await ami.wait_for("AgentConnect", Queue="contractor")
            assert served["Uniqueid"] == first["Uniqueid"]
            first_leaves.set()
            _, turn = await ami.wait_for("AgentConnect", Queue="contractor", Uniqueid=held["Uniqueid"],
                                         timeout=120)
            await asyncio.to_thread(phone.wait_log, r"Call established")
            assert not ami.events("AgentConnect", Uniqueid=later["Uniqueid"])
        report(test="queue wait", caller="ivr sip-call ×3 + baresip agent and phone",
               scenario="French position announcements; key * keeps the turn", kept_position=held["Position"],
               later_position=later["Position"], turn_served=turn["Interface"])
    finally:
        first_leaves.set()
        later_leaves.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for p in (phone, agent):
            p.stop()
        await asyncio.to_thread(lab.wait_phone_gone, "agent2")
