"""Real SIP calls on the real line: every bundled scenario from the product's SIP tester, and a
softphone we did not write (baresip) for a keypad self-served call and a caller hanging up mid-prompt.

All calls run at once. Checked from the outside: outcome, queue and reason in the IVR's call records;
what each caller heard; how fast the IVR let go of a call whose caller hung up (AMI events).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from ivr.sim.runner import RELEASE_DEADLINE
from ivr.waiting import DEADLINE, until, wait_until
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip, speech_share
from tests.e2e.calls import keypad_self_served

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = [ROOT / "ivr" / "sim" / "scenarios", ROOT / "tests" / "scenarios"]


async def _sip_tester(lab) -> list[dict]:
    env = {**os.environ, "IVR_SIP_PASSWORD": lab.secrets.tester, "IVR_ADMIN_TOKEN": lab.secrets.admin_token}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr", "sip-call", "--proxy", f"127.0.0.1:{lab.sip_port}", "--local-ip", "127.0.0.1",
        "--admin", lab.admin_url, "--concurrency", "64", "--stay", "3", *map(str, BUNDLED),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    assert lines and "calls" in lines[-1], f"ivr sip-call printed no summary:\n{err.decode()[-2000:]}"
    assert b"Task was destroyed" not in err, err.decode()[-2000:]
    return lines


def _keypad_self_served(phone: Baresip, lab) -> dict:
    """Carte grise, a file number typed with #, confirmed, status heard, rating 5: as scenario 01, by baresip."""
    # 3400: the IVR's clock says Tuesday morning
    return lab.record(keypad_self_served(phone, f"sip:3400@127.0.0.1:{lab.sip_port}"))


def _hangs_up_during_a_prompt(phone: Baresip, lab) -> tuple[dict, float]:
    phone.start()
    phone.dial(f"sip:3400@127.0.0.1:{lab.sip_port}")
    phone.wait_log(r"Call established")
    wait_until(lambda: phone.heard_so_far() >= 8000 * 2, "two seconds of the welcome heard",
               seen=phone.heard_so_far)
    phone.hangup()
    return lab.record(phone.call_id()), time.monotonic()


async def test_every_bundled_scenario_and_two_softphone_calls(lab, tmp_path, report):
    keypad = Baresip(tmp_path / "keypad", user="phone1", password=lab.secrets.phone1,
                     registrar=f"127.0.0.1:{lab.sip_port}")
    quitter = Baresip(tmp_path / "quitter", user="phone1", password=lab.secrets.phone1,
                      registrar=f"127.0.0.1:{lab.sip_port}")
    try:
        async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
            tester, served, (left, _) = await asyncio.gather(
                _sip_tester(lab),
                asyncio.to_thread(_keypad_self_served, keypad, lab),
                asyncio.to_thread(_hangs_up_during_a_prompt, quitter, lab))
            # Each call's channel gone (its Hangup event), the ones whose caller hung up first included.
            uniqueids = [c["record"]["uniqueid"] for c in tester[:-1]] + [served["uniqueid"], left["uniqueid"]]
            await until(lambda: all(ami.events("Hangup", Uniqueid=u) for u in uniqueids), "every call's Hangup event",
                        seen=lambda: [u for u in uniqueids if not ami.events("Hangup", Uniqueid=u)])
    finally:
        keypad.stop()
        quitter.stop()
    *calls, summary = tester
    for c in calls:
        report(test="bundled", caller="ivr sip-call", scenario=c["scenario"], outcome=c["record"]["outcome"],
               queue=c["record"]["queue"], reason=c["record"]["reason"], seconds=c["seconds"],
               heard_ratio=c["heard_ratio"], released_s=ami.release_seconds(c["record"]["uniqueid"]))
    report(test="bundled", caller="baresip", scenario="keypad self-served", outcome=served["outcome"],
           seconds=served["duration_ms"] / 1000)
    report(test="bundled", caller="baresip", scenario="hangs up during the welcome", outcome=left["outcome"],
           seconds=left["duration_ms"] / 1000, released_s=ami.release_seconds(left["uniqueid"]))

    # The product's tester: every bundled scenario meets its expectations in the IVR's records.
    assert summary["calls"] == len(calls) > 30
    assert {c["scenario"]: c["failures"] for c in calls if not c["passed"]} == {}
    # The callers heard the prompts: speech-level audio for most of the IVR's part of each call.
    assert {c["scenario"]: c["heard_ratio"] for c in calls if c["heard_ratio"] < 0.5} == {}
    # A caller who hangs up is let go at once (Asterisk keeps the channel until the IVR closes): within the
    # simulator's release deadline, well below a question's timeout (the times are in the report).
    hangups = [c for c in calls if c["record"]["outcome"] == "caller_hangup"]
    assert hangups
    for c in hangups + [{"scenario": "baresip", "record": left}]:
        released = ami.release_seconds(c["record"]["uniqueid"])
        assert released is not None and released < RELEASE_DEADLINE, (c["scenario"], released)

    # baresip, keypad only: served without an agent, and it heard the IVR most of the call.
    assert served["outcome"] == "self_served" and served["slots"]["file_number"] == "********81"
    heard, total = speech_share(keypad.heard_wav())
    assert total > 30 and heard / total > 0.5
    # baresip hanging up two seconds into the welcome.
    assert left["outcome"] == "caller_hangup" and left["hangup_node"] == "accueil"
    log = (lab.dir / "ivr.log").read_text(errors="replace")
    assert "Task was destroyed but it is pending" not in log and "Traceback" not in log

    await _the_console_tells_what_these_real_calls_did(lab, report)


def _offered(record: dict) -> bool:
    """README "Indicators": not closed, and not a hang-up before the first question."""
    return record["outcome"] != "closed_hours" and not (record["outcome"] == "caller_hangup" and not record["questions"])


async def _the_console_tells_what_these_real_calls_did(lab, report) -> None:
    records = lab.admin_get("/calls/recent?limit=200")["calls"]
    week = lab.admin_get("/kpis")["windows"]["last_7_days"]
    assert week["calls"] == len(records)  # every call of this line so far
    offered = [r for r in records if _offered(r)]
    served = sum(r["outcome"] == "self_served" for r in offered)
    assert week["offered"] == len(offered) and week["containment"] == round(served / len(offered), 4)
    assert week["short_abandons"] >= 1  # baresip left during the welcome
    report(test="console", calls=week["calls"], offered=week["offered"], containment=week["containment"],
           transfer_rate=week["transfer_rate"], short_abandons=week["short_abandons"])
    metrics = lab._admin("/metrics", DEADLINE).decode()
    assert f"ivr_calls_offered_total {float(len(offered))}" in metrics
    from tests.browser import Chromium, chromium_path

    if chromium_path() is None:
        return
    async with Chromium() as browser:
        visit, values = await browser.visit(
            lab.admin_url + "/", headers={"Authorization": f"Bearer {lab.secrets.admin_token}"},
            # The queues' table refilled by the page from the IVR, which has them from the real AMI.
            ready="document.querySelectorAll('#queues tbody tr').length >= 2 && "
                  "document.querySelector('.live-status')?.textContent.startsWith('actualisé à')",
            screenshot=ROOT / "var" / "screenshots" / "e2e-overview.png",
            evaluate={"queues": "[...document.querySelectorAll('#queues tbody tr')].map(r => r.innerText)",
                      "live": "document.querySelector('.live-status')?.textContent || ''"})
    assert visit.errors == [] and visit.status == 200, visit.errors
    # The agents' queues as the real Asterisk reports them over AMI, refreshed by the page.
    assert {row.split("\t")[0] for row in values["queues"]} >= {"inhouse", "contractor"}, values["queues"]
    assert values["live"].startswith("actualisé à")
