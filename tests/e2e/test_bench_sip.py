"""`ivr bench sip` keeps working: SIPp callers (RTP, RFC 4733 keys) through a real Asterisk, all served."""

from __future__ import annotations

import asyncio
import json
import sys


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
