"""The docker tester's SIP caller against a SIP test double: digest auth, answer, RTP, RFC 4733 keys, BYE."""

from __future__ import annotations

import asyncio

import numpy as np

from ivr.sim.scenario import Scenario
from ivr.sim.sip import SipCaller, digest_response, mulaw_decode, mulaw_encode
from ivr.waiting import DEADLINE
from tests.sip_uas import RtpSink, UasDouble, play_prompt


def test_mulaw_round_trip_is_close():
    pcm = (np.sin(np.linspace(0, 50, 800)) * 12000).astype("<i2")
    back = np.frombuffer(mulaw_decode(mulaw_encode(pcm.tobytes())), dtype="<i2")
    assert np.max(np.abs(back.astype(int) - pcm.astype(int))) < 400
    assert mulaw_encode(b"\0\0") == b"\xff"  # µ-law silence


def test_digest_matches_rfc2617_example():
    # The worked example of RFC 2617 section 3.5.
    assert digest_response(user="Mufasa", password="Circle Of Life", realm="testrealm@host.com",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", method="GET", uri="/dir/index.html",
                           qop="auth", nc="00000001", cnonce="0a4f113b") == "6629fae49393a05397450978507c4ef1"


async def test_a_call_authenticates_waits_for_the_prompt_presses_keys_and_ends_on_bye():
    loop = asyncio.get_running_loop()
    rtp_t, sink = await loop.create_datagram_endpoint(RtpSink, local_addr=("127.0.0.1", 0))
    uas = UasDouble("s3cret", rtp_t.get_extra_info("sockname")[1])
    sip_t, _ = await loop.create_datagram_endpoint(lambda: uas, local_addr=("127.0.0.1", 0))
    port = sip_t.get_extra_info("sockname")[1]
    caller = SipCaller(f"127.0.0.1:{port}", "tester", "s3cret", local_ip="127.0.0.1", quiet_after_prompt=0.3)
    scenario = Scenario.model_validate({"name": "sip", "call": {"at": "2026-11-24T10:00:00+01:00"},
                                        "steps": [{"kind": "press", "digits": "1#"}]})

    async def ivr_side():
        await uas.answered.wait()
        await asyncio.sleep(0.1)
        await play_prompt(rtp_t, uas.caller_rtp, 0.6)  # the welcome prompt
        while not any(e == (11, True) for e in sink.events):  # wait for "#" to end
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        uas.send_bye()

    server = asyncio.create_task(ivr_side())
    result = await asyncio.wait_for(caller.call(scenario), DEADLINE)
    await server
    assert result.passed and result.answered and result.ended_by == "ivr", result
    assert uas.invites == 2 and uas.auth_ok and uas.acks >= 2
    # A scenario with a time of day dials the test entry and says the time in a header.
    assert uas.request_line.startswith("INVITE sip:3499@")
    assert uas.headers["x-ivr-sim-now"] == "2026-11-24T10:00:00+01:00"
    keys = [e for e, end in sink.events if end]
    assert keys[:3] == [1, 1, 1] and keys[3:6] == [11, 11, 11]  # three end packets per key, "1" then "#"
    assert sink.pcmu > 20  # 20 ms µ-law frames flowed the whole time
    assert result.heard_seconds > 0.4  # it heard the prompt before pressing
    sip_t.close()
    rtp_t.close()


def test_outcomes_are_checked_against_the_ivr_call_record():
    from ivr.sim.sip import check_against_record

    sc = Scenario.model_validate({"name": "x", "expect": {"outcome": "routed:inhouse",
                                                          "variables": {"IVR_QUEUE": "inhouse", "IVR_REASON": "complex"}}})
    assert check_against_record(sc, {"outcome": "routed:inhouse", "queue": "inhouse", "reason": "complex"}) == []
    failures = check_against_record(sc, {"outcome": "routed:contractor", "queue": "contractor", "reason": "complex"})
    assert len(failures) == 2 and "expected 'routed:inhouse'" in failures[0]
    assert check_against_record(sc, None) == ["the IVR has no record of this call"]
