"""The hand-off: the caller reaches an agent of the queue the IVR chose, with the IVR's context on the
agent's channel, and a caller's third call of the day goes ahead in the queue (QUEUE_PRIO)."""

from __future__ import annotations

import asyncio

from ivr.sim.sip import AdminRecords, SipCaller
from ivr.waiting import DEADLINE, until
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip
from tests.e2e.calls import keyed

COMPLEX = "3475047269"  # carte grise with an expertise centre: in-house


def _tester(lab, stay: float) -> SipCaller:
    return SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                     stay_in_queue=stay, record=AdminRecords(lab.admin_url, lab.secrets.admin_token))


def _agent(tmp_path, lab, name: str) -> Baresip:
    phone = Baresip(tmp_path / name, user=name, password=lab.secrets.agent(name), registrar=f"127.0.0.1:{lab.sip_port}",
                    register=True, auto_answer=True)
    phone.start()
    phone.wait_log(r"200 OK")  # registered
    return phone


def _log_out(lab, agents: list[Baresip]) -> None:
    """The agents' phones off, and Asterisk aware of it: the next test finds the queues unstaffed."""
    for agent in agents:
        agent.stop()
    for agent in agents:
        lab.wait_phone_gone(agent.user)


async def test_callers_reach_an_agent_of_the_chosen_queue_with_the_ivr_context(lab, tmp_path, report):
    agents = [_agent(tmp_path, lab, "agent1"), _agent(tmp_path, lab, "agent2")]
    try:
        # The IVR sees both queues staffed and free (QueueSummary over AMI).
        for queue in ("inhouse", "contractor"):
            await asyncio.to_thread(lab.wait_expected_wait, queue, lambda w: w == 0)
        caller = _tester(lab, stay=8)
        async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
            complex_call, agent_call = await asyncio.gather(
                caller.call(keyed("dossier complexe", "0611000001", "1", "1", f"{COMPLEX}#", "1", "2")),
                caller.call(keyed("conseiller au menu", "0611000002", "0")))
            records = [await caller.record(c.call_id) for c in (complex_call, agent_call)]
            expected = (("inhouse", "PJSIP/agent1", {"IVR_TITLE": "carte_grise", "IVR_STATUS": "expertise",
                                                     "IVR_FILE": "********69"}),
                        ("contractor", "PJSIP/agent2", {"IVR_TITLE": "", "IVR_FILE": ""}))
            for (queue, member, extra), rec in zip(expected, records, strict=True):
                assert rec["queue"] == queue and rec["outcome"] == f"routed:{queue}"
                _, connect = await ami.wait_for("AgentConnect", Uniqueid=rec["uniqueid"])
                assert connect["Queue"] == queue and connect["Interface"] == member
                # The agent's channel carries the context the IVR collected (inherited __IVR_* variables).
                variables = connect.get("DestChanVariable") or []
                context = dict(v.split("=", 1) for v in ([variables] if isinstance(variables, str) else variables))
                assert context.get("IVR_REASON") == rec["reason"]
                assert {k: context.get(k) for k in extra} == extra
                report(test="queue", caller="ivr sip-call", scenario=f"bridged to {member}", outcome=rec["outcome"],
                       queue=queue, reason=rec["reason"], context=context)
        # The IVR's own journey of the call knows its title from the manager's queue events (channelvars):
        # the queues' figures per title type rest on it.
        page = f"/calls/{records[0]['call_id']}"

        def title() -> str | None:
            return (lab.admin_get(page).get("journey") or {}).get("segment") or None

        assert await until(lambda: asyncio.to_thread(title), "the in-house journey's title") == "carte_grise"
        for agent in agents:
            assert "Call established" in agent.output()  # the agent's phone answered the queue's call
    finally:
        await asyncio.to_thread(_log_out, lab, agents)


async def test_a_third_call_of_the_day_goes_ahead_in_the_queue(lab, report):
    # Nobody staffs the queues: callers wait, in the order the queue gives them.
    await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 0)
    repeat, other = "0622000003", "0622000004"
    first, second = keyed("premier appel", repeat, "0"), keyed("deuxième appel", repeat, "0")
    waiting = _tester(lab, stay=DEADLINE * 5)  # waits in the queue until the test lets it go
    quick = _tester(lab, stay=1)
    leave = asyncio.Event()
    async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
        waiter = asyncio.create_task(waiting.call(keyed("attend son tour", other, "0"), leave=leave))
        try:
            # The repeat caller's first two calls were routed (and so counted) and have left the queue,
            # and the other caller is waiting in it, before the third call is placed.
            for done in await asyncio.gather(*(quick.call(sc) for sc in (first, second))):
                assert (await quick.record(done.call_id))["outcome"] == "routed:contractor"
            await ami.wait_for("QueueCallerJoin", CallerIDNum=other)
            await until(lambda: len(ami.events("QueueCallerLeave", CallerIDNum=repeat)) == 2,
                        "the first two calls to leave the queue")
            third = await quick.call(keyed("troisième appel", repeat, "0"))
            rec3 = await quick.record(third.call_id)
            _, join3 = await ami.wait_for("QueueCallerJoin", Uniqueid=rec3["uniqueid"])
        finally:
            leave.set()
            await waiter
    joins = [e for _, e in ami.events("QueueCallerJoin", Queue="contractor")]
    assert len(joins) == 4
    # The other caller was waiting when the third call joined, yet the third call went first.
    assert (join3["Position"], join3["Count"]) == ("1", "2")
    report(test="queue", caller="ivr sip-call", scenario="third call of the day", outcome=rec3["outcome"],
           queue=rec3["queue"], position=join3["Position"], waiting=join3["Count"])
