"""Callbacks on the real line: booked by a caller facing a long wait, originated through the real AMI
into the dialplan, ringing the caller's phone behind the trunk, then queued to an agent; a failed
originate is tried again."""

from __future__ import annotations

import asyncio

from ivr.sim.scenario import Scenario
from ivr.sim.sip import AdminRecords, SipCaller
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip

NUMBER = "0633000005"


async def test_an_accepted_callback_rings_the_caller_and_joins_the_queue(lab, tmp_path, phone_port, report):
    # Nobody staffs the contractor queue: the wait is long, the IVR offers to call back.
    assert await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 300)
    caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                       quiet_after_prompt=1.5, record=AdminRecords(lab.admin_url, lab.secrets.admin_token))
    booking = Scenario.model_validate({"name": "rappel accepté", "call": {"at": OPEN, "caller": NUMBER},
                                       "steps": [{"kind": "press", "digits": "0"},   # an agent, please
                                                 {"kind": "press", "digits": "1"}]})  # yes, call me back
    # The caller's phone behind the trunk first answers "not found" (the first try fails at once).
    wrong = Baresip(tmp_path / "wrong", user="0700000000", registrar=f"127.0.0.1:{phone_port}",
                    sip_port=phone_port, auto_answer=True)
    right = Baresip(tmp_path / "phone", user=NUMBER, registrar=f"127.0.0.1:{phone_port}", sip_port=phone_port,
                    auto_answer=True)
    agent = Baresip(tmp_path / "agent2", user="agent2", password=lab.secrets.agent("agent2"),
                    registrar=f"127.0.0.1:{lab.sip_port}", register=True, auto_answer=True)
    channel = f"Local/{NUMBER}@ivr-callback-out"
    try:
        async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
            booked = await caller.call(booking)
            record = await caller.record(booked.call_id)
            assert record["outcome"] == "callback" and booked.ended_by == "ivr", record
            wrong.start()
            agent.start()  # an agent is free: the IVR dials the callback
            agent.wait_log(r"200 OK")
            _, failed = await ami.wait_for("OriginateResponse", Channel=channel, Response="Failure")
            await asyncio.to_thread(wrong.stop)
            right.start()
            _, done = await ami.wait_for("OriginateResponse", Channel=f"{channel}*", Response="Success")
            _, joined = await ami.wait_for("QueueCallerJoin", Uniqueid=done["Uniqueid"])
            _, connect = await ami.wait_for("AgentConnect", Uniqueid=done["Uniqueid"])
        assert joined["Queue"] == "contractor" and connect["Interface"] == "PJSIP/agent2"
        variables = connect.get("DestChanVariable") or []
        context = dict(v.split("=", 1) for v in ([variables] if isinstance(variables, str) else variables))
        assert context["IVR_REASON"] == "callback"
        assert "Call established" in right.output()  # the caller's phone answered the callback
        report(test="callback", caller="ivr sip-call + baresip", scenario="callback booked, first try failed",
               outcome=record["outcome"], first_try=failed["Reason"], queue=joined["Queue"],
               agent=connect["Interface"])
    finally:
        for phone in (wrong, right, agent):
            phone.stop()
        await asyncio.to_thread(lab.wait_phone_gone, "agent2")  # the next test finds the queue unstaffed
