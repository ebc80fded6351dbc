"""``ivr bench speech``: N concurrent streams of real audio through AudioSocket into Vosk.

Each stream connects like Asterisk does (UUID frame, then 20 ms frames in
real time): a French utterance synthesised offline, then silence. The server
side endpoints and decodes exactly as a call does. Reported: CPU seconds per
second of audio (whole process, and the decoding threads alone) and the
latency from the end of speech to the result (p50/p95), which includes the
trailing silence the endpointer waits for.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
import uuid as uuidlib
from dataclasses import dataclass

from ..audio.vad import EndpointConfig, Endpointer
from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, KIND_UUID, encode_frame
from ..edges.audiosocket.server import AudioSocketServer
from ..listening.vosk import SpeechModel
from ..sim.runner import percentile

__all__ = ["run_speech_bench", "UTTERANCES"]

UTTERANCES = [
    ("title_type", "c'est pour ma carte grise"),
    ("file_number", "zéro six, soixante-dix-huit, quarante-trois, vingt et un, quatre-vingt-dix-sept"),
    ("yes_no", "oui c'est ça"),
    ("title_type", "je voudrais des nouvelles de mon passeport"),
]


@dataclass
class StreamResult:
    audio_seconds: float
    latency: float  # end of speech → result
    decode_cpu: float
    text: str


async def _caller(port: int, call_uuid: str, pcm: bytes, pace: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(KIND_UUID, uuidlib.UUID(call_uuid).bytes))
    started = time.monotonic()
    try:
        for n, i in enumerate(range(0, len(pcm), FRAME_BYTES)):
            writer.write(encode_frame(KIND_AUDIO, pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")))
            await writer.drain()
            ahead = started + (n + 1) * 0.02 / pace - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            if reader.at_eof():
                break
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _recognise(server: AudioSocketServer, model: SpeechModel, slot: str, speech_seconds: float,
                     call_uuid: str) -> StreamResult:
    stream = await asyncio.wait_for(server.expect(call_uuid), 10)
    endpointer = Endpointer(EndpointConfig(no_input=10, end_silence=0.8))
    endpointer.start_listening()
    utterance = model.utterance(slot)
    pending = bytearray()
    audio = 0.0
    speech_end_wall = None
    try:
        while True:
            try:
                frame = await stream.read(timeout=0.5)
            except asyncio.TimeoutError:
                frame = None
            if frame is not None and frame.kind == KIND_AUDIO:
                endpointer.feed(frame.payload)
                audio += 0.02
                pending += frame.payload
                if speech_end_wall is None and audio >= speech_seconds:
                    speech_end_wall = time.monotonic()
                if len(pending) >= 5 * FRAME_BYTES:
                    utterance.submit(bytes(pending))
                    pending.clear()
            elif frame is None and stream.reader.at_eof():
                break
            if endpointer.status(idle=stream.backlog == 0) in ("ended", "max", "noinput"):
                break
        if pending:
            utterance.submit(bytes(pending))
        result = await utterance.finish()
        done = time.monotonic()
    finally:
        await stream.close()
    return StreamResult(audio, done - (speech_end_wall or done), utterance.busy_seconds, result.text)


async def run_speech_bench(model_path: str, streams: int, *, pace: float = 1.0, progress=print) -> dict:
    """Run ``streams`` concurrent streams; returns the summary."""
    from ..sim.voice import text_audio

    model = await asyncio.to_thread(SpeechModel, model_path)
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    clips = [(slot, text_audio(text)) for slot, text in UTTERANCES]
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    try:
        jobs = []
        for i in range(streams):
            slot, speech = clips[i % len(clips)]
            pcm = b"\0" * 8000 + speech + b"\0" * 32000  # 0.5 s before, 2 s after
            call_uuid = str(uuidlib.uuid4())
            jobs.append(_recognise(server, model, slot, (8000 + len(speech)) / 16000, call_uuid))
            jobs.append(_caller(server.bound_port, call_uuid, pcm, pace))
        results = [r for r in await asyncio.gather(*jobs) if isinstance(r, StreamResult)]
    finally:
        await server.stop()
        model.close()
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    audio = sum(r.audio_seconds for r in results)
    latencies = [r.latency for r in results]
    summary = {
        "bench": "speech",
        "model": str(model_path),
        "streams": streams,
        "audio_seconds": round(audio, 1),
        "wall_seconds": round(wall, 2),
        "cpu_s_per_audio_s": round(cpu / audio, 4) if audio else None,
        "decode_cpu_s_per_audio_s": round(sum(r.decode_cpu for r in results) / audio, 4) if audio else None,
        "latency_ms_p50": round(percentile(latencies, 50) * 1000, 1),
        "latency_ms_p95": round(percentile(latencies, 95) * 1000, 1),
        "latency_ms_mean": round(statistics.fmean(latencies) * 1000, 1) if latencies else None,
        "cores": os.cpu_count(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    return summary
