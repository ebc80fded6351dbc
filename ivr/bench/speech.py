"""``ivr bench speech``: N concurrent streams of real audio through AudioSocket into Vosk.

Each stream connects like Asterisk does (UUID frame, then 20 ms frames in
real time): an utterance synthesised offline, then silence. The server
side is the listener a call's question uses (endpointing, decoding, the early end of a whole
answer). Reported: CPU seconds per second of audio and the latency from the end of speech to the
answer in the engine's hands, when the next prompt starts (p50/p95): it includes the trailing
silence the question waits for, ``end_silence`` or, once the partial result is a whole answer
(ten digits whose key checks, a phrase the question takes), ``complete_answer_silence``.

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
from dataclasses import dataclass, replace
from typing import Any

from ..ants3400.file_numbers import is_valid_file_number, make_file_number
from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, KIND_UUID, encode_frame
from ..edges.audiosocket.server import AudioSocketServer
from ..interfaces import Answer, Question, SlotSpec
from ..listening.speech import SpeechListener, SpeechSettings
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
#: Korean digit strings checked like 34 00 file numbers (ten digits whose key checks): a whole answer
#: is recognised as it is in French.
def _ko_parse(text: str) -> str | None:
    return "".join(_KO_VALUE[w] for w in text.split() if w in _KO_VALUE) or None


KO_SLOT = SlotSpec("ko_digits", digits=True, length=10, phrases=(*KO_DIGITS, "공"), parse=_ko_parse,
                   accept=is_valid_file_number, literal=_ko_parse)


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
    latency: float  # end of speech → the answer in the engine's hands (its next prompt starts then)
    text: str
    expected: str = ""
    value: str | None = None
    ended_early: bool = False  # on a whole answer, before the usual trailing silence


async def _caller(port: int, call_uuid: str, pcm: bytes, pace: float, speech_end: int) -> float:
    """Send ``pcm`` like Asterisk does; returns when (monotonic) the last frame of speech was sent
    (``speech_end``: its byte offset)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(encode_frame(KIND_UUID, uuidlib.UUID(call_uuid).bytes))
    started = time.monotonic()
    sent_speech = started
    try:
        for n, i in enumerate(range(0, len(pcm), FRAME_BYTES)):
            writer.write(encode_frame(KIND_AUDIO, pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0")))
            await writer.drain()
            if i < speech_end:
                sent_speech = time.monotonic()
            ahead = started + (n + 1) * 0.02 / pace - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            if reader.at_eof():
                break
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return sent_speech


async def _recognise(server: AudioSocketServer, listener: SpeechListener, q: Question,
                     call_uuid: str) -> tuple[Answer, float]:
    """One stream heard by the listener exactly as a call's question hears it (no prompt)."""
    stream = await asyncio.wait_for(server.expect(call_uuid), 10)
    try:
        answer = await listener.listen(stream, q, None)
    finally:
        await stream.close()
    return answer, time.monotonic()


#: Silence before the speech (bytes of 8 kHz PCM: 0.5 s) and after it (2 s).
_LEAD, _TAIL = 8000, 32000


def _on_the_line(speech: bytes) -> bytes:
    return b"\0" * _LEAD + speech + b"\0" * _TAIL


async def _one_stream(server: AudioSocketServer, listener: SpeechListener, q: Question, speech: bytes,
                      pace: float, expected: str) -> StreamResult:
    pcm = _on_the_line(speech)
    call_uuid = str(uuidlib.uuid4())
    (answer, done), speech_end = await asyncio.gather(
        _recognise(server, listener, q, call_uuid),
        _caller(server.bound_port, call_uuid, pcm, pace, _LEAD + len(speech)))
    value = answer.value if isinstance(answer.value, str) else None
    return StreamResult(len(pcm) / 16000, done - speech_end, answer.text or "", expected, value,
                        ended_early=answer.details.get("ended") == "whole_answer")


async def hear_once(model: SpeechModel, pcm: bytes) -> str:
    """The digit string the engine hears in ``pcm`` (8 kHz), fed as a question feeds it."""
    assert KO_SLOT.parse is not None
    utterance = model.utterance(KO_SLOT)
    for i in range(0, len(pcm), 5 * FRAME_BYTES):  # in the chunks a question hands the recogniser
        await utterance.feed(pcm[i:i + 5 * FRAME_BYTES])
    return KO_SLOT.parse((await utterance.finish()).text) or ""


async def hearings(model: SpeechModel, clip: bytes, *, times: int = 3) -> frozenset[str]:
    """The digit strings the engine hears in the whole of ``clip`` (8 kHz) over a few decodings, but
    any that is the beginning of another (a key never passes for part of a number).

    The engine dithers its input (Kaldi's default, which the model's ``mfcc.conf`` keeps), so a clip
    near a tie is heard differently from one decoding to the next."""
    heard = {await hear_once(model, _on_the_line(clip)) for _ in range(times)}
    return frozenset(h for h in heard if h and not any(o != h and o.startswith(h) for o in heard))


async def _keyed_as_heard(model: SpeechModel, clip: bytes) -> SlotSpec:
    """The Korean slot whose "key" passes for the digits the engine hears in the whole clip, and for no
    prefix of them.

    A French file number's key passes for the whole number and (but for one chance in 97) for no part
    of it: that is what ends a whole answer early. This model does not read the offline voice's Korean
    right, so the key of the true digits would never pass; what the engine hears of the whole clip,
    decoded beforehand, stands for the number with a valid key."""
    whole = await hearings(model, clip)
    return replace(KO_SLOT, accept=lambda value: value in whole)


async def run_speech_bench(model_path: str, streams: int, *, pace: float = 1.0, language: str = "fr",
                           resample: str = "auto", end_silence: float = 0.8, complete_silence: float | None = 0.15,
                           progress: Progress = print) -> dict[str, Any]:
    """Run ``streams`` concurrent streams; returns the summary. ``complete_silence`` None: every answer
    waits for ``end_silence`` (no early end of a whole answer)."""
    import random

    from ..ants3400.profile import SLOTS
    from ..sim.voice import text_audio

    model = await asyncio.to_thread(SpeechModel, model_path, resample=resample)
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    listener = SpeechListener(server, model, SpeechSettings(pace=pace))
    if language == "ko":
        rng = random.Random(3400)
        numbers = [make_file_number(rng.randrange(10**8)) for _ in range(8)]
        clips = []
        for n in numbers:
            clip = await asyncio.to_thread(korean_clip, n)
            clips.append((await _keyed_as_heard(model, clip), clip, n))
    else:
        clips = [(SLOTS[slot], text_audio(text), "") for slot, text in UTTERANCES]
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    try:
        jobs = []
        for i in range(streams):
            slot, speech, expected = clips[i % len(clips)]
            q = Question(prompts=[], slot=slot, speech=True, timeout=10, end_silence=end_silence,
                         complete_silence=complete_silence)
            jobs.append(_one_stream(server, listener, q, speech, pace, expected))
        results = list(await asyncio.gather(*jobs))
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
        "end_silence_s": end_silence,
        "complete_answer_silence_s": complete_silence,
        "ended_early": listener.stats["early_end"],
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
