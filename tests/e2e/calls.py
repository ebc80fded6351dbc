"""Calls the real-line suites (tests/e2e on the lab, tests/docker on containers) place alike."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from ivr.sim.scenario import Scenario, load_scenarios
from ivr.sim.sip import AdminRecords, SipCaller
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


#: Keys to the contractor queue: an agent at the title menu (0), then « patienter » when a callback is
#: offered before queueing (2).
TO_THE_QUEUE = ("0", "2")


def keyed(name: str, caller: str, *keys: str) -> Scenario:
    """A call at an open hour from ``caller`` that presses ``keys``, one prompt each."""
    return Scenario.model_validate({"name": name, "call": {"at": OPEN, "caller": caller},
                                    "steps": [{"kind": "press", "digits": k} for k in keys]})


@dataclass
class QueueLine:
    """Callers who wait in the unstaffed contractor queue, the agent who logs in later (agent2), and the
    phone behind the trunk a kept turn calls back (see :func:`contractor_queue`)."""

    caller: SipCaller
    records: AdminRecords
    agent: Baresip
    phone: Baresip
    #: The calls still running (each left when its event is set); awaited when the line closes.
    calls: list[asyncio.Task] = field(default_factory=list)
    _leaves: list[asyncio.Event] = field(default_factory=list)

    def wait_in_queue(self, scenario: Scenario) -> tuple[asyncio.Task, asyncio.Event]:
        """Start ``scenario``'s call, which stays in the queue until the event returned is set."""
        leave = asyncio.Event()
        self._leaves.append(leave)
        self.calls.append(asyncio.create_task(self.caller.call(scenario, leave=leave)))
        return self.calls[-1], leave


@contextlib.asynccontextmanager
async def contractor_queue(lab, workdir: Path, phone_port: int, keeper: str) -> AsyncIterator[QueueLine]:
    """Nobody staffs the contractor queue (its expected wait is long); ``keeper``'s phone answers a kept
    turn's callback once started; agent2 answers calls once started. On leaving, every waiting caller
    leaves, the phones stop and agent2 is unregistered (the next test finds the queue unstaffed)."""
    assert await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 300)
    records = AdminRecords(lab.admin_url, lab.secrets.admin_token)
    line = QueueLine(
        SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                  quiet_after_prompt=1.5, stay_in_queue=600, record=records),
        records,
        agent=Baresip(workdir / "agent2", user="agent2", password=lab.secrets.agent("agent2"),
                      registrar=f"127.0.0.1:{lab.sip_port}", register=True, auto_answer=True),
        phone=Baresip(workdir / "phone", user=keeper, registrar=f"127.0.0.1:{phone_port}", sip_port=phone_port,
                      auto_answer=True))
    try:
        yield line
    finally:
        for leave in line._leaves:
            leave.set()
        await asyncio.gather(*line.calls, return_exceptions=True)
        for p in (line.phone, line.agent):
            p.stop()
        await asyncio.to_thread(lab.wait_phone_gone, "agent2")
