"""The pieces of `ivr bench sip` that need no Asterisk: the callers' RTP stream (keys, line noise,
speech at the right times), the speaking line (its profile and flow pass the checker), and how a
speaking call's record is judged. The real runs are in tests/e2e/test_bench_sip.py (a unit test module may not share its name)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.bench.sip import caller_pcap, line_noise
from ivr.bench.sip_speech import QUESTIONS, SpokenCall, judge, speaking_stream, summary
from ivr.config import DEFAULT_PROMPTS_DIR, DEFAULT_RULES, Settings
from ivr.server.checks import declared_lookups
from ivr.server.line import LineSources, load_line, load_profile
from ivr.sim.sip import mulaw_decode
from tests.test_audiosocket import tone


def rtp_packets(path: Path) -> list[tuple[float, int, int, bytes]]:
    """(time, payload type, sequence number, payload) of each packet of a pcap the bench wrote."""
    data = path.read_bytes()[24:]
    out = []
    while data:
        sec, usec, size, _ = struct.unpack("<IIII", data[:16])
        frame, data = data[16:16 + size], data[16 + size:]
        rtp = frame[14 + 20 + 8:]
        out.append((sec - 1 + usec / 1e6, rtp[1] & 0x7F, struct.unpack("!H", rtp[2:4])[0], rtp[12:]))
    return out


def rms(pcm: bytes) -> float:
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    return (sum(s * s for s in samples) / len(samples)) ** 0.5


def test_a_speaking_caller_sends_its_voice_at_the_given_time_and_line_noise_around_it(tmp_path):
    voice = tone(0.5)  # loud: it cannot be taken for the line's noise
    packets = rtp_packets(caller_pcap(tmp_path / "c.pcap", [], speech=[(2.0, voice)], tail=1.0))
    audio = [(t, mulaw_decode(p)) for t, pt, _, p in packets if pt == 0]
    loud = [t for t, pcm in audio if rms(pcm) > 1000]
    assert loud[0] == pytest.approx(2.0) and loud[-1] == pytest.approx(2.48)
    assert len(loud) == 25  # 0.5 s of 20 ms packets, nothing lost or doubled
    assert all(rms(pcm) < 200 for t, pcm in audio if not 2.0 <= t < 2.5)  # a quiet line otherwise
    assert audio[-1][0] >= 2.5 + 0.9  # the tail after the last word
    assert [s for _, _, s, _ in packets] == list(range(len(packets)))  # one stream, as a phone sends it


def test_keys_still_go_as_telephone_events_in_the_same_stream(tmp_path):
    packets = rtp_packets(caller_pcap(tmp_path / "c.pcap", [(1000, "5")], tail=1.0))
    events = [(t, p) for t, pt, _, p in packets if pt == 101]
    assert events and all(p[0] == 5 for _, p in events) and events[0][0] == pytest.approx(1.0)


def test_line_noise_is_quiet_and_as_long_as_asked():
    noise = line_noise(2.5)
    assert len(noise) == 2.5 * 16000 and 20 < rms(noise) < 200


def test_each_answer_is_said_after_its_question_s_prompt_even_when_the_ivr_took_its_longest(tmp_path):
    clips = [tone(1.0), tone(2.0)]
    packets = rtp_packets(speaking_stream(tmp_path / "s.pcap", clips, prompt_seconds=4.0))
    loud = [t for t, pt, _, p in packets if pt == 0 and rms(mulaw_decode(p)) > 1000]
    starts = [loud[0]] + [b for a, b in zip(loud, loud[1:], strict=False) if b - a > 0.1]
    # After the call's set-up (1 s) and the prompt, half a second; then after the first answer, the
    # IVR's longest turn (the 0.8 s end of speech, the next node), the prompt again, half a second.
    assert starts == [pytest.approx(5.5), pytest.approx(5.5 + 1.0 + 1.8 + 4.0 + 0.5)]


def record(values: list[str], *, modes=("speech", "speech"), outcome="self_served", ended=(None, None),
           attempts=(1, 1)) -> dict:
    return {"outcome": outcome, "slots": dict(zip(QUESTIONS, values, strict=True)),
            "recognition": [{"node": q, "mode": m, "attempts": n, "after_speech_ms": 400 if e else 800,
                             **({"ended": e} if e else {})}
                            for q, m, e, n in zip(QUESTIONS, modes, ended, attempts, strict=True)]}


HEARD = [frozenset({"202553"}), frozenset({"125220"})]


def test_a_call_served_with_both_answers_spoken_at_the_first_try_is_not_failed():
    call = judge(record(["202553", "125220"], ended=("whole_answer", None)), HEARD)
    assert not call.failed and call.heard == [True, True]
    figures = summary([call], expected=1)
    assert figures["failed"] == 0 and figures["answers_heard"] == 2 and figures["ended_early"] == 1
    assert (figures["after_speech_ms_p50"], figures["after_speech_ms_max"]) == (400, 800)


@pytest.mark.parametrize("call", [
    record(["202553", "125220"], attempts=(2, 1)),  # asked again (not understood, or no input)
    record(["202553", "125220"], modes=("speech", "dtmf")),  # answered by keys
    record(["202553", "125220"], outcome="routed:contractor"),  # not served
], ids=["asked again", "keys", "not served"])
def test_a_call_asked_again_answered_by_keys_or_not_served_is_failed(call):
    assert judge(call, HEARD).failed


def test_an_answer_heard_otherwise_than_the_clip_alone_is_counted_not_failed():
    """The engine dithers its input: a few per cent of decodings of the same clip differ."""
    call = judge(record(["202553", "125229"]), HEARD)
    assert not call.failed and call.heard == [True, False]
    assert summary([call], expected=1)["answers_misheard"] == 1


def test_a_call_without_a_record_counts_as_failed():
    served = judge(record(["202553", "125220"]), HEARD)
    assert summary([served], expected=3)["failed"] == 2
    assert isinstance(served, SpokenCall)


def test_the_speaking_line_s_flow_passes_the_checker_with_its_profile(tmp_path, monkeypatch):
    from ivr.bench.speaking_line import FLOW, PROFILE

    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "ants-3400.yaml").write_text(FLOW, encoding="utf-8")
    config, errors = load_line(LineSources([tmp_path / "flows"], DEFAULT_PROMPTS_DIR / "catalog.yaml", DEFAULT_RULES),
                               PROFILE, declared_lookups(PROFILE))
    assert errors == [] and config is not None
    # The 34 00's own profile has no such question: the same flow is rejected, naming the slot.
    from ivr.ants3400.profile import PROFILE as ANTS

    _, errors = load_line(LineSources([tmp_path / "flows"], DEFAULT_PROMPTS_DIR / "catalog.yaml", DEFAULT_RULES),
                          ANTS, declared_lookups(ANTS))
    assert any("ko_number" in e and "ants-3400.yaml:" in e for e in errors), errors


def test_a_profile_is_named_module_colon_attribute_and_a_wrong_one_is_said_plainly():
    assert load_profile("ivr.bench.speaking_line:PROFILE").name == "bench-speaking"
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_profile("ivr.no_such_module:PROFILE")
    with pytest.raises(ValueError, match="not a LineProfile"):
        load_profile("ivr.bench.speaking_line:FLOW")
    with pytest.raises(ValueError, match="module:attribute"):
        Settings(profile="ivr.bench.speaking_line")


def test_ivr_serve_with_a_profile_that_does_not_load_says_so_and_exits(tmp_path):
    env = {"IVR_PROFILE": "ivr.no_such_module:PROFILE", "IVR_RECORDS": str(tmp_path / "r.jsonl"),
           "IVR_STORE": str(tmp_path / "s.sqlite"), "IVR_ACCEPTED_DIR": str(tmp_path / "a"), "IVR_AGI_PORT": "0",
           "IVR_ADMIN_PORT": "0", "IVR_AUDIOSOCKET_PORT": "0", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "ivr", "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "ivr.no_such_module:PROFILE" in done.stderr and "cannot be loaded" in done.stderr


def test_ivr_flows_check_checks_against_the_line_s_profile(tmp_path):
    """An administrator checks a flow with the profile the servers run (IVR_PROFILE), as they reload it."""
    from ivr.bench.speaking_line import FLOW

    (tmp_path / "ants-3400.yaml").write_text(FLOW, encoding="utf-8")
    check = [sys.executable, "-m", "ivr", "flows", "check", str(tmp_path)]
    base = {"PATH": "/usr/bin:/bin"}
    own = subprocess.run(check, env={**base, "IVR_PROFILE": "ivr.bench.speaking_line:PROFILE"},
                         capture_output=True, text=True, timeout=120)
    ants = subprocess.run(check, env=base, capture_output=True, text=True, timeout=120)
    assert own.returncode == 0, own.stderr
    assert ants.returncode == 1 and "ko_number" in ants.stderr
