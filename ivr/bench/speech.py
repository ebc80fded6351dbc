"""``ivr bench speech``: N concurrent streams of real audio through AudioSocket into Vosk.

Each stream connects like Asterisk does (UUID frame, then 20 ms frames in
real time): an utterance synthesised offline, then silence. The server
side endpoints and decodes exactly as a call does. Reported: CPU seconds per
second of audio (whole process, and the decoding threads alone) and the
latency from the end of speech to the result (p50/p95), which includes the
trailing silence the endpointer waits for.

``--language fr`` speaks French questions (with the French model: grammar mode; with another
model: free dictation, the costly worst case). ``--language ko`` speaks ten-digit strings in Korean
(Sino-Korean digit words) into a Korean model with a grammar of those words: grammar decoding
measured for real with the model this machine has, and its accuracy. The audio goes through G.711
µ-law like a telephone line; ``--resample`` says who brings it from 8 kHz to the model's 16 kHz.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import time
import uuid as uuidlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from ..audio.vad import EndpointConfig, Endpointer
from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, KIND_UUID, encode_frame
from ..edges.audiosocket.server import AudioSocketServer
from ..interfaces import SlotSpec
from ..listening.vosk import SpeechModel
from ..sim.runner import percentile
from .progress import Progress

__all__ = ["run_speech_bench", "UTTERANCES", "KO_DIGITS", "korean_clip"]

UTTERANCES = [
    ("title_type", "c'est pour ma carte grise"),
    ("file_number", "zéro six, soixante-dix-huit, quarante-trois, vingt et un, quatre-vingt-dix-sept"),
    ("yes_no", "oui c'est ça"),
    ("title_type", "je voudrais des nouvelles de mon passeport"),
]

#: Sino-Korean digit words, 0–9 (« 공 » is another zero).
KO_DIGITS = ("영", "일", "이", "삼", "사", "오", "육", "칠", "팔", "구")
_KO_VALUE = {w: str(i) for i, w in enumerate(KO_DIGITS)} | {"공": "0"}
KO_SLOT = SlotSpec("ko_digits", digits=True, phrases=(*KO_DIGITS, "공"),
                   parse=lambda text: "".join(_KO_VALUE[w] for w in text.split() if w in _KO_VALUE) or None)


def korean_clip(digits: str) -> bytes:
    """Ten digits said in Korean by the offline voice, as a telephone line carries them (8 kHz µ-law)."""
    from ..audio.wav import TELEPHONY_RATE, resample
    from ..sim.sip import mulaw_decode, mulaw_encode
    from ..tts.espeak import Voice, synthesize

    pcm, rate = synthesize(", ".join(KO_DIGITS[int(d)] for d in digits), Voice(name="ko", rate=120))
    return mulaw_decode(mulaw_encode(resample(pcm, rate, TELEPHONY_RATE)))


@dataclass
class StreamResult:
    audio_seconds: float
    latency: float  # end of speech → result
    decode_cpu: float
    text: str
    expected: str = ""
    value: str | None = None


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


async def _recognise(server: AudioSocketServer, model: SpeechModel, slot: SlotSpec, speech_seconds: float,
                     call_uuid: str, expected: str = "") -> StreamResult:
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
    value = slot.parse(result.text) if slot.parse and result.text else None
    return StreamResult(audio, done - (speech_end_wall or done), utterance.busy_seconds, result.text, expected, value)


async def run_speech_bench(model_path: str, streams: int, *, pace: float = 1.0, language: str = "fr",
                           resample: str = "auto", progress: Progress = print) -> dict[str, Any]:
    """Run ``streams`` concurrent streams; returns the summary."""
    import random

    from ..ants3400.profile import SLOTS
    from ..sim.voice import text_audio

    model = await asyncio.to_thread(SpeechModel, model_path, resample=resample)
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    if language == "ko":
        rng = random.Random(3400)
        numbers = ["".join(rng.choice("0123456789") for _ in range(10)) for _ in range(8)]
        clips = [(KO_SLOT, await asyncio.to_thread(korean_clip, n), n) for n in numbers]
    else:
        clips = [(SLOTS[slot], text_audio(text), "") for slot, text in UTTERANCES]
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    try:
        jobs: list[Coroutine[Any, Any, StreamResult | None]] = []
        for i in range(streams):
            slot, speech, expected = clips[i % len(clips)]
            pcm = b"\0" * 8000 + speech + b"\0" * 32000  # 0.5 s before, 2 s after
            call_uuid = str(uuidlib.uuid4())
            jobs.append(_recognise(server, model, slot, (8000 + len(speech)) / 16000, call_uuid, expected))
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
        "language": language,
        "resample": "vosk" if model.resamples_itself else "soxr",
        "cores": os.cpu_count(),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    scored = [r for r in results if r.expected]
    if scored:
        summary["strings_right_pct"] = round(100 * sum(r.value == r.expected for r in scored) / len(scored), 1)
        summary["digit_error_rate_pct"] = round(100 * sum(_edits(r.value or "", r.expected) for r in scored)
                                                / sum(len(r.expected) for r in scored), 1)
    return summary


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: digits inserted, deleted or substituted."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def compare_resampling(model_path: str, count: int = 24) -> dict[str, Any]:
    """8 kHz telephone audio into a 16 kHz model: Vosk's own resampler against soxr's, on the same clips
    (Korean digit strings through µ-law). Reported per path: decoding CPU per audio second; and how
    often both paths recognise the same words, and how far apart their digits are when they do not."""
    import json as jsonlib
    import random

    from ..audio.wav import TELEPHONY_RATE, resample

    rng = random.Random(3400)
    numbers = ["".join(rng.choice("0123456789") for _ in range(10)) for _ in range(count)]
    clips = [korean_clip(n) + b"\0" * 16000 for n in numbers]
    model = SpeechModel(model_path)
    grammar = jsonlib.dumps([*KO_SLOT.phrases], ensure_ascii=False)
    vosk = model._vosk
    out: dict[str, Any] = {"bench": "resample", "clips": count, "audio_seconds": round(sum(len(c) for c in clips) / 16000, 1)}
    texts: dict[str, list[str]] = {}
    try:
        for path in ("vosk", "soxr"):
            cpu = 0.0
            texts[path] = []
            for clip in clips:
                started = time.thread_time()
                if path == "soxr":
                    pcm, rate = resample(clip, TELEPHONY_RATE, model.sample_rate), model.sample_rate
                else:
                    pcm, rate = clip, TELEPHONY_RATE
                rec = vosk.KaldiRecognizer(model.model, rate, grammar)
                for i in range(0, len(pcm), 3200):
                    rec.AcceptWaveform(pcm[i:i + 3200])
                texts[path].append(jsonlib.loads(rec.FinalResult()).get("text", ""))
                cpu += time.thread_time() - started
            out[f"{path}_cpu_s_per_audio_s"] = round(cpu / out["audio_seconds"], 4)
    finally:
        model.close()
    parse = KO_SLOT.parse
    assert parse is not None  # the Korean slot reads digits
    same = sum(1 for a, b in zip(texts["vosk"], texts["soxr"], strict=True) if a == b)
    apart = [_edits(parse(a) or "", parse(b) or "") for a, b in zip(texts["vosk"], texts["soxr"], strict=True)]
    out["same_words_pct"] = round(100 * same / count, 1)
    out["digits_apart_mean"] = round(statistics.fmean(apart), 2)
    out["vs_truth_digit_error_pct"] = {
        path: round(100 * sum(_edits(parse(t) or "", n) for t, n in zip(texts[path], numbers, strict=True))
                    / (10 * count), 1) for path in texts}
    return out
