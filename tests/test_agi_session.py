"""The AGI session API replayed against sessions captured from a real Asterisk."""

from __future__ import annotations

import pytest

from ivr.edges.agi.errors import AgiCommandError, ApplicationNotFound, CallerHungUp, PlaybackFailed
from ivr.edges.agi.server import AgiLimits, read_environment
from ivr.edges.agi.session import AgiSession
from tests.conftest import load_capture
from tests.replay import Replay


async def _session(replay: Replay) -> AgiSession:
    reader, writer = await replay.serve()
    env = await read_environment(reader, AgiLimits())
    return AgiSession(reader, writer, env, reply_timeout=5)


async def test_commands_capture_replays_exactly():
    replay = Replay(load_capture("commands"), lenient_from=17)
    s = await _session(replay)
    assert s.env.request_path == "ants-3400"
    await s.answer()
    await s.verbose("capture start", 1)
    entry = await s.get_data("ivr-welcome", 4000, 4)
    assert (entry.digits, entry.timed_out) == ("12", False)  # "12#" typed: # ends entry
    played = await s.stream_file("ivr-welcome", "0123456789*#")
    assert (played.digit, played.endpos) == (None, 6005)
    missing = await s.command('STREAM FILE does-not-exist ""')
    assert missing.result_int == -1
    assert await s.exec("AudioSocket", "8bf79274-eb93-4bfd-aa0e-abfe214b2a3d", "127.0.0.1:9092") == 0
    await s.set_variable("IVR_QUEUE", "contractor")
    assert await s.get_variable("IVR_QUEUE") == "contractor"
    assert await s.get_variable("NOPE") is None
    assert await s.get_full_variable("${CHANNEL}") == "Local/s@caller-00000000;1"
    assert await s.channel_status() == 6
    assert await s.wait_for_digit(500) is None
    with pytest.raises(AgiCommandError) as unknown:
        await s.command("FOO BAR")
    assert unknown.value.code == 510
    with pytest.raises(AgiCommandError) as usage:
        await s.command("STREAM FILE")
    assert usage.value.code == 520 and "PLAYBACKSTATUS" in usage.value.usage
    rec = await s.record_file("/var/spool/asterisk/ivr/rec1", "wav", "#", 1500, silence_s=1)
    assert rec.timed_out and rec.endpos == 0
    assert await s.say_digits("123") is None
    with pytest.raises(CallerHungUp):
        await s.wait_for_digit(15000)  # -1, then CHANNEL STATUS meets HANGUP + 511
    assert s.hung_up
    with pytest.raises(CallerHungUp):
        await s.answer()
    assert replay.mismatches == []
    await s.close()
    replay.close()


async def test_edge_capture_replays_exactly():
    replay = Replay(load_capture("edge"))
    s = await _session(replay)
    await s.answer()
    played = await s.stream_file("ivr-long", "0123456789*#")
    assert (played.digit, played.endpos) == ("1", 9760)  # result=49 is the ASCII code of "1"
    partial = await s.get_data("ivr-welcome", 2500, 4)
    assert (partial.digits, partial.timed_out) == ("12", True)
    nothing = await s.get_data("ivr-welcome", 1500, 4)
    assert (nothing.digits, nothing.timed_out) == ("", True)
    assert await s.wait_for_digit(5000) == "5"
    rec = await s.record_file("/var/spool/asterisk/ivr/rec2", "wav", "#", 8000, silence_s=2)
    assert rec.timed_out and rec.endpos == 8257
    with pytest.raises(ApplicationNotFound):
        await s.exec("NoSuchApp", "foo")
    # Nothing listens on port 9: -1, and the channel is still up.
    assert await s.exec("AudioSocket", "eebe8e65-4883-4cc3-91f8-73369959a808", "127.0.0.1:9") == -1
    assert await s.channel_status() == 6
    assert replay.mismatches == []
    await s.close()
    replay.close()


async def test_sip_capture_missing_prompt_is_not_a_hangup():
    """On the SIP capture the prompts were missing: -1 on a live channel is PlaybackFailed."""
    entries = load_capture("sip")
    # Keep the env block, ANSWER, VERBOSE, GET DATA (-1), then answer our CHANNEL STATUS with the
    # captured "200 result=6" (Asterisk's reply to CHANNEL STATUS on that live channel).
    replay = Replay(entries[:7] + [
        {"dir": "ivr->asterisk", "data": "CHANNEL STATUS\n"},
        {"dir": "asterisk->ivr", "data": "200 result=6\n"},
    ])
    s = await _session(replay)
    await s.answer()
    await s.verbose("capture start", 1)
    with pytest.raises(PlaybackFailed):
        await s.get_data("ivr-welcome", 4000, 4)
    assert not s.hung_up
    assert replay.mismatches == []
    await s.close()
    replay.close()
