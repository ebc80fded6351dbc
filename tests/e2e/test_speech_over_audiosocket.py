"""AudioSocket on the real path: with a speech model loaded, Asterisk streams the caller's audio to the
IVR and the IVR plays its questions into the same socket; keys arrive there as DTMF frames."""

from __future__ import annotations

import asyncio

from ivr.sim.runner import RELEASE_DEADLINE
from ivr.sim.scenario import Scenario
from ivr.sim.sip import AdminRecords, SipCaller
from ivr.waiting import until
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch


def _scenario(name: str, steps: list, **call) -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN, **call}, "steps": steps})


async def test_questions_run_over_audiosocket_keys_answer_them_and_a_hangup_is_let_go_at_once(speech_lab, report):
    lab = speech_lab
    speech = lab.admin_get("/readyz")["checks"]["speech"]
    assert speech["state"] == "vosk model loaded" and speech["decoding_threads"] >= 1
    caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                       stay_in_queue=2, record=AdminRecords(lab.admin_url, lab.secrets.admin_token))
    press = lambda keys: {"kind": "press", "digits": keys}  # noqa: E731
    served = _scenario("statut au clavier par AudioSocket", [press("1"), press("1"), press("5458443881#"),
                                                             press("1"), press("1"), press("5")])
    silent = _scenario("aucune réponse puis conseiller", [{"kind": "silence"}, press("0")])
    leaves = _scenario("raccroche pendant une question", [press("1"), {"kind": "hangup"}])
    # A car's rumble at RMS 1,000 under everything the phone sends, the prompts' time included.
    noisy = _scenario("ligne bruyante, aucune réponse puis conseiller", [{"kind": "silence"}, press("0")],
                      noise={"kind": "car", "rms": 1000})
    async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
        results = await asyncio.gather(*(caller.call(sc) for sc in (served, silent, leaves, noisy)))
        records = [await caller.record(r.call_id) for r in results]
        await until(lambda: all(ami.events("Hangup", Uniqueid=r["uniqueid"]) for r in records),
                    "every call's Hangup event")
    for result, rec in zip(results, records, strict=True):
        report(test="audiosocket", caller="ivr sip-call", scenario=result.scenario, outcome=rec["outcome"],
               seconds=round(result.seconds, 1), via=sorted({q.get("via") for q in rec["recognition"]} - {None}),
               released_s=ami.release_seconds(rec["uniqueid"]))
    done, quiet, left, car = records
    # Keys typed by the caller reached the IVR as AudioSocket DTMF frames, question after question.
    assert done["outcome"] == "self_served"
    # (The satisfaction rating is a keypad-only question, `speech: false`: it is asked through AGI.)
    assert [q["via"] for q in done["recognition"]] == ["audiosocket"] * 5 + ["agi"]
    assert done["slots"]["satisfaction"] == "5"
    # Silence on a SIP line (frames keep flowing) is no input, timed on the wall clock; then key 0.
    assert quiet["outcome"] == "routed:contractor" and quiet["reason"] == "agent_requested"
    assert quiet["recognition"][0]["noinput"] == 1
    # Noise on the line through Asterisk's AudioSocket, from the first frame: it neither passes for an
    # answer nor for a misunderstanding; the question ends as no input, then key 0.
    assert car["outcome"] == "routed:contractor" and car["reason"] == "agent_requested"
    assert car["recognition"][0]["noinput"] == 1 and car["recognition"][0]["nomatch"] == 0
    assert car["recognition"][0]["via"] == "audiosocket"
    # Hanging up while the IVR listens over AudioSocket: the IVR lets go at once.
    assert left["outcome"] == "caller_hangup" and left["hangup_node"] == "question_dossier"
    assert ami.release_seconds(left["uniqueid"]) < RELEASE_DEADLINE
    log = (lab.dir / "ivr.log").read_text()
    assert "Task was destroyed but it is pending" not in log
    assert "Traceback" not in log
