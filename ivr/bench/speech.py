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
import json
import os
import resource
import statistics
import sys
import time
import uuid as uuidlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..ants3400.file_numbers import is_valid_file_number, make_file_number
from ..config import Settings
from ..edges.audiosocket.protocol import FRAME_BYTES
from ..edges.audiosocket.server import AudioSocketServer
from ..interfaces import Answer, Question, SlotSpec
from ..listening.speech import SpeechListener, SpeechSettings
from ..listening.vosk import SpeechModel
from ..sim.runner import percentile
from .line_callers import StreamPlan, write_plan
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
    heard: bool = False  # the value is what the engine hears in the clip decoded alone


@dataclass(frozen=True)
class BenchClip:
    """What one stream says: its slot, its speech (8 kHz, as the line carries it), the digits said
    (French: none) and what the engine hears in it decoded alone (the reference for accuracy)."""

    slot: SlotSpec
    speech: bytes
    expected: str = ""
    reference: frozenset[str] = frozenset()


async def _recognise(server: AudioSocketServer, listener: SpeechListener, q: Question,
                     call_uuid: str) -> tuple[Answer, float]:
    """One stream heard by the listener exactly as a call's question hears it (no prompt)."""
    stream = await asyncio.wait_for(server.expect(call_uuid), 30)
    try:
        answer = await listener.listen(stream, q, None)
        answered = time.monotonic()
    finally:
        await stream.close()
    return answer, answered


#: Silence before the speech (bytes of 8 kHz PCM: 0.5 s) and after it (2 s).
_LEAD, _TAIL = 8000, 32000


def _on_the_line(speech: bytes) -> bytes:
    return b"\0" * _LEAD + speech + b"\0" * _TAIL


def _speech_end(pcm: bytes, threshold: float) -> int:
    """Where the last frame loud enough to be speech ends (bytes): the caller stopped speaking there."""
    from ..audio.vad import frame_rms

    voiced = [i for i in range(0, len(pcm), FRAME_BYTES) if frame_rms(pcm[i:i + FRAME_BYTES]) > threshold]
    return voiced[-1] + FRAME_BYTES if voiced else 0


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


def _keyed_as_heard(reference: frozenset[str]) -> SlotSpec:
    """The Korean slot whose "key" passes for the digits the engine hears in the whole clip, and for no
    prefix of them; a whole answer has as many digits as the shortest of those.

    A French file number's key passes for the whole number and (but for one chance in 97) for no part
    of it: that is what ends a whole answer early. This model does not read the offline voice's Korean
    through a telephone line right (it is a wide-band model: the same clips at 16 kHz are heard right),
    so the key of the true digits would never pass; what the engine hears of the whole clip, decoded
    beforehand, stands for the number with a valid key."""
    return replace(KO_SLOT, accept=lambda value: value in reference,
                   length=min((len(h) for h in reference), default=10))


class SpeechBench:
    """Concurrent speaking streams into one listener, the callers in a process of their own."""

    def __init__(self, model: SpeechModel, *, language: str = "ko", pace: float = 1.0, end_silence: float = 0.8,
                 complete_silence: float | None = 0.15) -> None:
        self.model, self.language, self.pace = model, language, pace
        self.end_silence, self.complete_silence = end_silence, complete_silence
        self.clips: list[BenchClip] = []
        #: Each stream of the last run, as heard.
        self.results: list[StreamResult] = []

    async def prepare(self, count: int = 8) -> None:
        """Synthesise the clips (and, in Korean, decode each alone for the reference)."""
        import random

        from ..ants3400.profile import SLOTS
        from ..sim.voice import text_audio

        if self.language != "ko":
            self.clips = [BenchClip(SLOTS[slot], text_audio(text)) for slot, text in UTTERANCES]
            return
        rng = random.Random(3400)
        for _ in range(count * 5):
            n = make_file_number(rng.randrange(10**8))
            speech = await asyncio.to_thread(korean_clip, n)
            reference = await hearings(self.model, speech)
            # Only clips the engine hears alike every time it decodes them alone: the others are ties
            # its dithering decides, and would make any change look like a loss of accuracy.
            if len(reference) == 1 and await hear_once(self.model, _on_the_line(speech)) in reference:
                self.clips.append(BenchClip(_keyed_as_heard(reference), speech, n, reference))
            if len(self.clips) == count:
                break

    async def run(self, streams: int) -> dict[str, Any]:
        """``streams`` streams at once; returns the summary."""
        import tempfile

        server = AudioSocketServer("127.0.0.1", 0, max_connections=streams + 8)
        await server.start()
        # The voice detector the IVR runs (IVR_VAD): the event loop's CPU per stream includes it.
        listener = SpeechListener(server, self.model, SpeechSettings(pace=self.pace, vad=Settings().vad))
        threshold = listener.settings.endpoint.min_rms
        lags: list[float] = []
        with tempfile.TemporaryDirectory(prefix="ivr-bench-speech-") as tmp:
            plans, jobs = [], []
            for i in range(streams):
                clip = self.clips[i % len(self.clips)]
                pcm = _on_the_line(clip.speech)
                audio = Path(tmp) / f"{i}.pcm"
                audio.write_bytes(pcm)
                plans.append(StreamPlan(str(uuidlib.uuid4()), str(audio), _speech_end(pcm, threshold)))
                q = Question(prompts=[], slot=clip.slot, speech=True, timeout=10, end_silence=self.end_silence,
                             complete_silence=self.complete_silence)
                jobs.append(_recognise(server, listener, q, plans[-1].uuid))
            write_plan(Path(tmp) / "plan.json", server.bound_port, self.pace, plans)
            cpu0, wall0, children0 = time.process_time(), time.monotonic(), _children_cpu()
            loop0 = time.thread_time()  # this thread runs the event loop; the recognisers run in others
            decoded0 = self.model.decoded_seconds
            callers = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "ivr.bench.line_callers", str(Path(tmp) / "plan.json"),
                stdout=asyncio.subprocess.PIPE)
            sampling = asyncio.create_task(_sample_lag(self.model, lags))
            try:
                heard = await asyncio.gather(*jobs)
                out, _ = await callers.communicate()
            finally:
                sampling.cancel()
                if callers.returncode is None:  # a stream failed: the callers are not left behind
                    callers.kill()
                    await callers.wait()
                await server.stop()
            cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
            loop_cpu = time.thread_time() - loop0
        speech_sent: dict[str, float] = json.loads(out or b"{}")
        results = []
        for i, (plan, (answer, done)) in enumerate(zip(plans, heard, strict=True)):
            clip = self.clips[i % len(self.clips)]
            value = answer.value if isinstance(answer.value, str) else None
            results.append(StreamResult(
                (_LEAD + len(clip.speech) + _TAIL) / 16000, done - speech_sent.get(plan.uuid, done),
                answer.text or "", clip.expected, value, answer.details.get("ended") == "whole_answer",
                value in clip.reference))
        self.results = results
        return self._summary(streams, results, Cpu(cpu, loop_cpu, _children_cpu() - children0), wall,
                             self.model.decoded_seconds - decoded0, lags, listener)

    def _summary(self, streams: int, results: list[StreamResult], cpu: Cpu, wall: float,
                 decoded: float, lags: list[float], listener: SpeechListener) -> dict[str, Any]:
        audio = sum(r.audio_seconds for r in results)
        latencies = [r.latency for r in results]
        summary: dict[str, Any] = {
            "bench": "speech",
            "model": str(self.model.path),
            "streams": streams,
            "audio_seconds": round(audio, 1),
            "wall_seconds": round(wall, 2),
            "cpu_s_per_audio_s": round(cpu.ivr / audio, 4) if audio else None,
            # Of which the event loop's thread (AudioSocket, endpointer, questions); the rest is decoding.
            "event_loop_cpu_s_per_audio_s": round(cpu.event_loop / audio, 4) if audio else None,
            "callers_cpu_s_per_audio_s": round(cpu.callers / audio, 4) if audio else None,
            # The share of the streams' audio the recogniser was given (none of the silence before speech).
            "decoded_share": round(decoded / audio, 3) if audio else None,
            "end_silence_s": self.end_silence,
            "complete_answer_silence_s": self.complete_silence,
            "ended_early": listener.stats["early_end"],
            "latency_ms_p50": round(percentile(latencies, 50) * 1000, 1),
            "latency_ms_p95": round(percentile(latencies, 95) * 1000, 1),
            "latency_ms_max": round(max(latencies, default=0.0) * 1000, 1),
            "decoding_lag_ms_max": round(max(lags, default=0.0) * 1000, 1),
            "language": self.language,
            "resample": "vosk" if self.model.resamples_itself else "soxr",
            "workers": self.model.pool.workers,
            "cores": os.cpu_count(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        if self.language == "ko":
            summary["heard_as_alone_pct"] = round(100 * sum(r.heard for r in results) / len(results), 1)
        return summary

    async def capacity(self, target_ms: float, *, start: int = 10, step: int = 10, limit: int = 200,
                       progress: Progress = print) -> dict[str, Any]:
        """The largest number of streams whose p95 wait after speaking is within ``target_ms``: levels
        ``start``, ``start + step``… until one misses, then halving the interval between the last level
        that kept the target and the first that missed, down to a fifth of ``step``."""
        runs: dict[int, dict[str, Any]] = {}

        async def kept(n: int) -> bool:
            runs[n] = await self.run(n)
            progress(json.dumps(runs[n]))
            return bool(runs[n]["latency_ms_p95"] <= target_ms)

        good, missed, n = 0, None, start
        while n <= limit:
            if not await kept(n):
                missed = n
                break
            good, n = n, n + step
        while missed is not None and missed - good > max(1, step // 5):
            n = (good + missed) // 2
            if await kept(n):
                good = n
            else:
                missed = n
        return {"bench": "speech", "target_ms": target_ms, "capacity_streams": good, "first_missed": missed,
                "runs": [runs[n] for n in sorted(runs)]}


@dataclass(frozen=True)
class Cpu:
    """CPU seconds over one run: the IVR's process, its event loop's thread, the callers' process."""

    ivr: float
    event_loop: float
    callers: float


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _sample_lag(model: SpeechModel, lags: list[float]) -> None:
    """The decoding threads' lag, every 100 ms."""
    while True:
        lags.append(model.pool.lag())
        await asyncio.sleep(0.1)


async def run_speech_bench(model_path: str, streams: int, *, pace: float = 1.0, language: str = "fr",
                           resample: str = "auto", end_silence: float = 0.8, complete_silence: float | None = 0.15,
                           progress: Progress = print) -> dict[str, Any]:
    """Run ``streams`` concurrent streams; returns the summary. ``complete_silence`` None: every answer
    waits for ``end_silence`` (no early end of a whole answer)."""
    model = await asyncio.to_thread(SpeechModel, model_path, resample=resample)
    try:
        bench = SpeechBench(model, language=language, pace=pace, end_silence=end_silence,
                            complete_silence=complete_silence)
        await bench.prepare()
        return await bench.run(streams)
    finally:
        model.close()


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
