"""Calls the real-line suites (tests/e2e on the lab, tests/docker on containers) place alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ivr.sim.scenario import Scenario, load_scenarios
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"
#: Scenario 01 on a phone's keypad: carte grise, a file number typed with #, confirmed, status heard,
#: no agent, rating 5.
KEYPAD_SELF_SERVED = ("1", "1", "5458443881#", "1", "1", "5")


def long_calls(n: int, first_caller: int) -> list[Scenario]:
    """Long keypad calls at an open hour (status read back; no file number), each from its own number
    (``06`` then ``first_caller``, ``first_caller + 1``… on eight digits)."""
    base = load_scenarios([SCENARIOS / "01-self-served-keypad.yaml", SCENARIOS / "02-no-file-number.yaml"])
    out = []
    for i in range(n):
        scenario = base[i % 2].model_copy(deep=True)
        scenario.call.caller = f"06{first_caller + i:08d}"
        out.append(scenario)
    return out


def callback_booking(number: str) -> Scenario:
    """A caller from ``number`` asks for an agent (0) and, told the wait is long, accepts a callback (1)."""
    return Scenario.model_validate({"name": "rappel", "call": {"at": OPEN, "caller": number},
                                    "steps": [{"kind": "press", "digits": "0"}, {"kind": "press", "digits": "1"}]})


def keypad_self_served(phone: Baresip, uri: str) -> str:
    """``phone`` dials ``uri`` and answers each prompt once it is over, as scenario 01; returns the SIP
    Call-ID once the call has ended."""
    phone.start()
    phone.dial(uri)
    phone.wait_log(r"Call established")
    mark = 0
    for keys in KEYPAD_SELF_SERVED:
        mark = phone.wait_prompt_over(mark)
        phone.press(keys)
        mark = phone.heard_so_far()
    phone.wait_log(r"(?i)(call closed|session closed|terminated)")
    phone.wait_heard_whole()
    return phone.call_id()


async def agent_ends_calls(ami: AmiWatch, agent: Baresip, after: float) -> None:
    """Until cancelled: ``agent`` takes each queued caller and ends the call ``after`` seconds later, as a
    person would (a test caller whose IVR part was cut keeps waiting for prompts that never come, and would
    hold the only agent)."""
    handled = 0
    while True:
        connects = ami.events("AgentConnect", Interface=f"PJSIP/{agent.user}")
        if len(connects) > handled:
            handled = len(connects)
            await asyncio.sleep(after)
            agent.hangup()
        await asyncio.sleep(0.2)
