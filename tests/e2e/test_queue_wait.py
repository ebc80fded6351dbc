"""Waiting for an agent on the real line (issue 29, item 4): the queue tells each caller, in French, their
place; a caller who presses * leaves for a callback that keeps their place — a placeholder waits at
that place and, when the agent takes it, calls the caller's phone behind the trunk. Someone who
joined after them is still behind."""

from __future__ import annotations

import asyncio
import re

from tests.e2e.ami_watch import AmiWatch
from tests.e2e.calls import TO_THE_QUEUE, contractor_queue, keyed

FIRST, KEEPER, LATER = "0633000011", "0633000012", "0633000013"


def _played(lab, since: int) -> list[str]:
    """The sounds Asterisk found and played in French since ``since`` (its log: VERBOSE « Playing 'x.fmt'
    (language 'fr') »; a sound it lacks is skipped without a word)."""
    lines = lab.asterisk.log_lines(since, levels=("VERBOSE",))
    return [m.group(1) for line in lines
            for m in [re.search(r"Playing '([^']+)\.[a-z0-9]+' \(language 'fr'\)", line)] if m]


async def test_a_waiting_caller_hears_their_place_in_french_and_keeps_it_with_a_callback(
        lab, tmp_path, phone_port, report):
    since = lab.asterisk.log_size()
    async with contractor_queue(lab, tmp_path, phone_port, KEEPER) as line, \
            AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
        _, first_leaves = line.wait_in_queue(keyed("premier", FIRST, *TO_THE_QUEUE))
        _, first = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=FIRST)
        # The second caller hears their place, presses *, confirms the callback (1): the call ends.
        kept = await line.caller.call(keyed("garde son tour", KEEPER, *TO_THE_QUEUE, "*", "1"))
        assert kept.ended_by == "ivr", kept
        _, joined = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=KEEPER)
        assert joined["Position"] == "2"
        _, held = await ami.wait_for("QueueCallerJoin", Queue="contractor", Channel="Local/hold@ivr-turn-hold-*")
        assert held["Position"] == "2"  # the placeholder took the place the caller left
        line.wait_in_queue(keyed("arrivé après", LATER, *TO_THE_QUEUE))
        _, later = await ami.wait_for("QueueCallerJoin", Queue="contractor", CallerIDNum=LATER)
        assert later["Position"] == "3"
        played = _played(lab, since)
        assert {"queue-youarenext", "queue-thereare", "digits/2", "queue-callswaiting",
                "queue-thankyou"} <= set(played), played
        # An agent logs in: the first caller, then the kept turn — the caller's phone rings with the
        # agent on the line — and only then the caller who joined later.
        line.phone.start()
        line.agent.start()
        line.agent.wait_log(r"200 OK")
        _, served = await ami.wait_for("AgentConnect", Queue="contractor")
        assert served["Uniqueid"] == first["Uniqueid"]
        first_leaves.set()
        _, turn = await ami.wait_for("AgentConnect", Queue="contractor", Uniqueid=held["Uniqueid"], timeout=120)
        await asyncio.to_thread(line.phone.wait_log, r"Call established")
        assert not ami.events("AgentConnect", Uniqueid=later["Uniqueid"])
    report(test="queue wait", caller="ivr sip-call ×3 + baresip agent and phone",
           scenario="French position announcements; key * keeps the turn", kept_position=held["Position"],
           later_position=later["Position"], turn_served=turn["Interface"])
