"""AudioSocket framing and server, and the endpointer: protocol exactness and bounds."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest

from ivr.audio.vad import EndpointConfig, Endpointer
from ivr.edges.audiosocket.protocol import KIND_AUDIO, KIND_DTMF, KIND_UUID, AudioSocketError, FrameDecoder, encode_frame
from ivr.edges.audiosocket.server import AudioSocketServer, read_frame
from ivr.waiting import DEADLINE
from tests.audiosocket_peer import connected_peer
from tests.conftest import load_capture


def reader_of(data: bytes) -> asyncio.StreamReader:
    r = asyncio.StreamReader()
    r.feed_data(data)
    r.feed_eof()
    return r


async def test_frames_round_trip_and_match_the_capture():
    # The capture's first frame: kind 0x01, 16 bytes, the UUID the AGI EXEC named.
    first = load_capture("commands", "audiosocket.jsonl")[0]["data"]
    raw = bytes.fromhex(first["payload_hex"])
    wire = encode_frame(KIND_UUID, raw)
    assert wire[:3] == b"\x01\x00\x10"
    frame = await read_frame(reader_of(wire))
    assert frame.uuid == "8bf79274-eb93-4bfd-aa0e-abfe214b2a3d"
    audio = await read_frame(reader_of(encode_frame(KIND_AUDIO, b"\x01\x02" * 160)))
    assert (audio.kind, len(audio.payload)) == (KIND_AUDIO, 320)
    dtmf = await read_frame(reader_of(bytes.fromhex("03000135")))  # the capture's DTMF "5"
    assert dtmf.dtmf == "5"
    assert await read_frame(reader_of(b"")) is None


@pytest.mark.parametrize("wire, message", [
    (b"\x10\x01", "inside a frame header"),
    (b"\x10\x01\x40" + b"\0" * 10, "inside a 320-byte frame"),
    (b"\x42\x00\x00", "unknown frame kind 0x42"),
    (b"\x10\xff\xff", "too large"),
    (b"\x01\x00\x04abcd", "UUID frame of 4 bytes"),
    (b"\x03\x00\x02ab", "DTMF frame of 2 bytes"),
])
async def test_garbage_and_truncated_frames_are_errors(wire, message):
    with pytest.raises(AudioSocketError, match=message):
        await read_frame(reader_of(wire))


async def test_server_hands_the_connection_to_the_waiting_call_and_rejects_strangers():
    server = AudioSocketServer("127.0.0.1", 0, first_frame_timeout=0.3)
    await server.start()
    try:
        port = server.bound_port
        wanted = str(uuid.uuid4())
        fut = server.expect(wanted)
        # A stranger (unknown UUID), a non-UUID first frame and a silent peer are all dropped.
        for payload in (encode_frame(KIND_UUID, uuid.uuid4().bytes), encode_frame(KIND_AUDIO, b"\0" * 320), b""):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(payload)
            await w.drain()
            assert await asyncio.wait_for(r.read(), DEADLINE) == b""
            w.close()
        assert server.rejected == 3 and not fut.done()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(encode_frame(KIND_UUID, uuid.UUID(wanted).bytes) + encode_frame(KIND_DTMF, b"7"))
        await w.drain()
        stream = await asyncio.wait_for(fut, DEADLINE)
        frame = await stream.read(timeout=DEADLINE)
        assert frame.dtmf == "7"
        await stream.send_audio(b"\0" * 320)
        assert (await r.readexactly(3)) == b"\x10\x01\x40"
        await stream.close()
        await r.readexactly(320)
        assert await asyncio.wait_for(r.read(), DEADLINE) == b""  # closing the socket ends Asterisk's EXEC
        w.close()
    finally:
        await server.stop()


async def test_closing_while_the_caller_still_streams_is_a_clean_end_not_a_reset():
    """Asterisk streams the caller's audio until it sees the end of the stream; closing with audio
    unread in the socket resets the connection, which Asterisk logs as an ERROR (seen on Asterisk 22)."""
    import socket
    import threading
    import time as time_

    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    try:
        wanted = str(uuid.uuid4())
        fut = server.expect(wanted)
        peer = socket.create_connection(("127.0.0.1", server.bound_port))
        peer.sendall(encode_frame(KIND_UUID, uuid.UUID(wanted).bytes))
        stream = await asyncio.wait_for(fut, DEADLINE)
        seen: list = []

        def asterisk_side() -> None:
            try:
                while peer.recv(65536):
                    pass  # the caller's audio Asterisk still had to send
                seen.append(b"")  # a clean end of stream: Asterisk's EXEC returns
            except ConnectionResetError as exc:
                seen.append(exc)
            finally:
                peer.close()

        peer.sendall(encode_frame(KIND_AUDIO, b"\0" * 320) * 20)
        time_.sleep(0.05)  # the event loop has not read these yet: they wait in the socket
        reader = threading.Thread(target=asterisk_side)
        reader.start()
        await asyncio.wait_for(stream.close(), DEADLINE)
        await asyncio.to_thread(reader.join, DEADLINE)
        assert seen == [b""]
    finally:
        await server.stop()


async def test_a_question_keeps_the_socket_alive_while_the_phone_sends_nothing():
    """Asterisk 22 ends AudioSocket after 2 s with no frame either way (app_audiosocket.c), and a phone
    with silence suppression sends no audio while its caller thinks. While a question listens, the IVR
    sends a frame of silence whenever it has sent nothing for a second: the question lasts its own time."""
    import time as time_

    from ivr.interfaces import Question
    from ivr.listening.speech import SpeechListener, SpeechSettings

    class QuietUtteranceDouble:  # a test double: the recogniser is never given audio here
        def submit(self, pcm: bytes) -> None:
            raise AssertionError("nothing was said")

        def abandon(self) -> None:
            pass

    class QuietModelDouble:  # a test double handing out that utterance
        busy = False

        def utterance(self, slot):
            return QuietUtteranceDouble()

    async with connected_peer() as peer:
        listener = SpeechListener(peer.server, QuietModelDouble(), SpeechSettings(pace=0))
        received: list[float] = []

        async def asterisk_side() -> None:
            while (frame := await read_frame(peer.reader)) is not None:
                assert frame.kind == KIND_AUDIO and frame.payload == b"\0" * 320
                received.append(time_.monotonic())

        reading = asyncio.create_task(asterisk_side())
        started = time_.monotonic()
        question = Question(prompts=[], timeout=3.5)
        answer = await asyncio.wait_for(listener.listen(peer.stream, question, None), DEADLINE)
        ended = time_.monotonic()
        await peer.stream.close()
        await asyncio.wait_for(reading, DEADLINE)
    assert answer.empty and ended - started >= 3.5  # no input, after the question's own time
    moments = [started, *received, ended]
    gaps = [b - a for a, b in zip(moments, moments[1:], strict=False)]
    assert len(received) >= 3 and max(gaps) < 2.0, gaps  # never the two seconds Asterisk gives up after


def tone(seconds: float, amplitude: int = 4000) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return (amplitude * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return b"\0" * int(16000 * seconds)


def feed_all(e: Endpointer, pcm: bytes) -> list[str]:
    out = []
    for i in range(0, len(pcm), 320):
        e.feed(pcm[i:i + 320])
        out.append(e.status())
    return out


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_speech_then_trailing_silence_ends_the_utterance():
    clock = FakeClock()
    e = Endpointer(EndpointConfig(end_silence=0.8), clock=clock)
    e.start_listening()
    states = feed_all(e, silence(0.5) + tone(1.0) + silence(1.0))
    assert "speaking" in states
    # Ends 0.8 s after the speech (within a frame or two), not before.
    assert abs(states.index("ended") - int((0.5 + 1.0 + 0.8) / 0.02)) <= 2


def test_a_cough_neither_starts_speech_nor_barges_in():
    e = Endpointer(EndpointConfig(min_speech=0.12, barge_in_speech=0.35), clock=FakeClock())
    feed_all(e, tone(0.08) + silence(0.3))
    assert not e.speech_started and not e.barge_in
    feed_all(e, tone(0.4))
    assert e.speech_started and e.barge_in


def test_no_input_by_audio_time_and_by_wall_clock_when_frames_stop():
    clock = FakeClock()
    e = Endpointer(EndpointConfig(no_input=2.0), clock=clock)
    e.start_listening()
    assert feed_all(e, silence(2.1))[-1] == "noinput"  # a SIP line: silence frames flow
    clock2 = FakeClock()
    e2 = Endpointer(EndpointConfig(no_input=2.0), clock=clock2)
    e2.start_listening()
    clock2.t = 1.0
    assert e2.status() == "listening"
    clock2.t = 2.2  # a Local channel: no frames at all during silence
    assert e2.status() == "noinput"


def test_a_backlog_of_queued_frames_is_not_silence():
    clock = FakeClock()
    e = Endpointer(EndpointConfig(no_input=2.0), clock=clock)
    e.start_listening()
    clock.t = 1.5  # frames were late (busy server) but they are still arriving
    for _ in range(0, len(silence(0.2)), 320):
        e.feed(b"\0" * 320)
        clock.t += 0.001
    assert e.status() == "listening"


def test_wall_clock_counts_only_when_no_frame_is_waiting():
    clock = FakeClock()
    e = Endpointer(EndpointConfig(end_silence=0.8), clock=clock)
    e.start_listening()
    feed_all(e, tone(0.5))
    clock.t = 5.0  # the decoder was busy for seconds while frames queued up
    assert e.status(idle=False) == "speaking"
    assert e.status(idle=True) == "ended"  # nothing queued: the line really went quiet


def test_the_decoder_gives_the_same_frames_however_the_stream_was_cut():
    wire = (encode_frame(KIND_UUID, uuid.uuid4().bytes) + encode_frame(KIND_AUDIO, b"\x01\x02" * 160)
            + bytes.fromhex("03000135") + encode_frame(KIND_AUDIO, b"\0" * 320))
    whole = FrameDecoder().feed(wire)
    assert [f.kind for f in whole] == [KIND_UUID, KIND_AUDIO, KIND_DTMF, KIND_AUDIO]
    for step in (1, 2, 3, 5, 320):
        decoder = FrameDecoder()
        assert [f for i in range(0, len(wire), step) for f in decoder.feed(wire[i:i + step])] == whole
        decoder.close()  # ended on a frame boundary: no error


@pytest.mark.parametrize("wire, message", [
    (b"\x10\x01", "inside a frame header"),
    (b"\x10\x01\x40" + b"\0" * 10, "inside a 320-byte frame"),
])
def test_the_decoder_reports_a_stream_cut_inside_a_frame(wire, message):
    decoder = FrameDecoder()
    assert decoder.feed(wire) == []
    with pytest.raises(AudioSocketError, match=message):
        decoder.close()


def test_the_decoder_rejects_garbage_at_once():
    with pytest.raises(AudioSocketError, match="unknown frame kind 0x42"):
        FrameDecoder().feed(b"\x42\x00\x00")
    with pytest.raises(AudioSocketError, match="too large"):
        FrameDecoder().feed(b"\x10\xff\xff")


def test_garbage_after_frames_keeps_the_frames_before_it():
    """Asterisk's UUID frame and a peer's garbage can arrive in one read: the call still gets its
    connection (and then the error), rather than waiting for a connection refused whole."""
    wire = encode_frame(KIND_UUID, uuid.uuid4().bytes) + bytes.fromhex("03000135") + b"\x42\x00\x00"
    decoder = FrameDecoder()
    decoded = decoder.decode(wire)
    assert [f.kind for f in decoded.frames] == [KIND_UUID, KIND_DTMF]
    assert decoded.error is not None and "unknown frame kind 0x42" in str(decoded.error)


async def test_a_peer_flooding_a_question_is_held_back_by_tcp_and_nothing_is_lost():
    """Frames the call has not read yet wait in a bounded buffer: past MAX_BACKLOG the socket is no
    longer read, so the kernel's buffers fill and TCP holds the peer back (its writes queue on its
    side). Reading resumes as the call catches up, and every frame arrives, in order."""
    import struct

    from ivr.edges.audiosocket.server import MAX_BACKLOG
    from ivr.waiting import until

    async with connected_peer() as peer:
        stream, w = peer.stream, peer.writer
        frames = 64_000  # 21 minutes of audio, 20 MB: more than the kernel's socket buffers hold
        w.write(b"".join(encode_frame(KIND_AUDIO, struct.pack("<I", i) + bytes(316)) for i in range(frames)))
        await until(lambda: stream.backlog >= MAX_BACKLOG and w.transport.get_write_buffer_size() > 0,
                    "the flood to be held back on the peer's side")
        one_read = 256 * 1024 // 323 + 1  # what a single read of the socket may still have completed
        assert stream.backlog <= MAX_BACKLOG + one_read
        seen = []
        while len(seen) < frames:
            frame = await stream.read(timeout=DEADLINE)
            assert frame is not None and frame.kind == KIND_AUDIO
            seen.append(struct.unpack("<I", frame.payload[:4])[0])
            assert stream.backlog <= MAX_BACKLOG + one_read
        assert seen == list(range(frames))


async def test_audio_sent_to_a_peer_that_does_not_read_waits_instead_of_piling_up():
    """A prompt sent to an Asterisk that has stopped reading: once the transport's buffer is over its
    high-water mark, sending waits (memory stays bounded); when the peer reads again, it goes on."""
    from ivr.waiting import until

    async with connected_peer() as peer:
        stream = peer.stream
        frames = 64_000
        sent = 0

        async def prompt() -> None:
            nonlocal sent
            for _ in range(frames):
                await stream.send_audio(bytes(320))
                sent += 1

        sending = asyncio.create_task(prompt())
        await until(lambda: not stream._writable.is_set(), "the sender to be held back")
        assert sent < frames and not sending.done()
        got = 0
        while got < frames:  # the peer reads again: everything arrives
            frame = await asyncio.wait_for(read_frame(peer.reader), DEADLINE)
            assert frame is not None and frame.kind == KIND_AUDIO
            got += 1
        await asyncio.wait_for(sending, DEADLINE)
        assert sent == frames
