"""``ivr bench sip --speech``: callers speaking through a real Asterisk's AudioSocket into the grammars.

Each level starts a fresh lab (Asterisk 22, ``ivr serve`` with a speech model, the tracking stub)
serving :mod:`ivr.bench.speaking_line`: two questions, each answered by a digit string said in
Korean (the offline voice; the only real model here is Korean), then goodbye. SIPp callers send it
all as RTP (G.711 µ-law): line noise, and each answer half a second after the question's prompt has
ended. The IVR's call records say, per question, how it was answered, what was heard, whether the
question ended early on a whole answer and how long the caller waited after speaking
(``after_speech_ms``: from the arrival of their last voiced frame to the answer in the engine's
hands, when its next prompt starts). A call fails unless it is served with both questions answered
by speech at the first try; answers heard otherwise than the engine hears the clip on its own are
counted apart (the engine dithers its input: a few per cent of decodings differ).

Reported per level: calls, failed, answers heard, early ends, the wait after speaking p50/p95/max,
call set-up p50/p95, CPU of Asterisk and of the IVR; and the capacity: the largest level at 0 failed
with p95 within the target.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audio.wav import read_wav
from ..config import DEFAULT_PROMPTS_DIR
from ..lab.lab import LabOptions
from ..sim.runner import percentile
from .sip import caller_pcap, run_level, sipp_trouble
from .speaking_line import FLOW, HEARD_ENV

if TYPE_CHECKING:
    from ..listening.vosk import SpeechModel

__all__ = ["run_sip_speech_bench", "SpokenCall", "speaking_stream"]

#: The questions of the bench's flow, in order, and the prompt each plays.
QUESTIONS = ("premier", "second")
PROMPT = "demande_numero"
#: Digits in each number a caller says, and how many numbers are tried for clips the engine hears alike.
DIGITS, CANDIDATES = 6, 40
#: Seconds from the answer of the call to the first prompt (AGI, then AudioSocket), with margin; and
#: from the end of an answer to the next prompt (the endpointer's 0.8 s at worst, the next node).
_LEAD, _TURN, _AFTER_PROMPT = 1.0, 1.8, 0.5


@dataclass(frozen=True)
class SpokenCall:
    """One bench call as its record tells it."""

    served: bool
    answers: list[dict[str, Any]]  # the record's recognition entries of the questions
    values: list[str | None]
    heard: list[bool]  # each answer is what the engine hears in its clip

    @property
    def failed(self) -> bool:
        """Not served, or a question not answered by the caller's speech (asked again, no input, keys).

        An answer heard otherwise than the engine hears its clip alone is not a failure of the call
        (the engine dithers: a few per cent of decodings differ, on the line or not); it is counted."""
        return not (self.served and all(a.get("mode") == "speech" and a.get("attempts") == 1 for a in self.answers))


def _prompt_seconds(prompts_dir: Path = DEFAULT_PROMPTS_DIR) -> float:
    pcm, rate = read_wav(str(prompts_dir / "wav" / f"{PROMPT}.wav"))
    return len(pcm) / 2 / rate


def speaking_stream(path: Path, clips: list[bytes], prompt_seconds: float) -> Path:
    """The caller's RTP stream: each clip (8 kHz) said half a second after its question's prompt ends,
    when the previous answer took the longest the IVR may take."""
    at, speech = _LEAD + prompt_seconds + _AFTER_PROMPT, []
    for clip in clips:
        speech.append((at, clip))
        at += len(clip) / 16000 + _TURN + prompt_seconds + _AFTER_PROMPT
    return caller_pcap(path, [], speech=speech, tail=20.0)


@dataclass(frozen=True)
class Clip:
    """A number said in Korean (8 kHz audio) and what the engine hears in it."""

    audio: bytes
    heard: frozenset[str]


async def steady_clips(model: SpeechModel, count: int = len(QUESTIONS)) -> list[Clip]:
    """Numbers the engine hears the same way after various lengths of line noise (a question decodes
    from a second before the caller speaks, :data:`ivr.listening.speech.PREROLL_SECONDS`, give or take
    the 0.12 s its endpointer takes to tell speech), so that what the IVR hears on the line can be told
    right or wrong. This model hears the offline voice's Korean badly, and a number near a tie comes
    out differently from one decoding to the next (it dithers its input)."""
    from ..listening.speech import PREROLL_SECONDS
    from .sip import line_noise
    from .speech import hear_once, korean_clip

    rng = random.Random(3400)
    clips: list[Clip] = []
    for _ in range(CANDIDATES):
        audio = korean_clip("".join(rng.choice("0123456789") for _ in range(DIGITS)))
        heard = {await hear_once(model, line_noise(PREROLL_SECONDS + shift) + audio + line_noise(1.0))
                 for shift in (-0.12, -0.06, 0.0, 0.0, 0.1)}
        if len(heard) == 1 and "" not in heard:
            clips.append(Clip(audio, frozenset(heard)))
            if len(clips) == count:
                return clips
    raise RuntimeError(f"fewer than {count} of {CANDIDATES} numbers are heard the same way five times by this model")


def judge(record: dict[str, Any], heard: list[frozenset[str]]) -> SpokenCall:
    """What the record says of one bench call: served, each answer spoken and heard as the engine
    hears its clip."""
    answers: list[dict[str, Any]] = [next((e for e in record.get("recognition", []) if e.get("node") == q), {})
                                     for q in QUESTIONS]
    values = [record.get("slots", {}).get(q) for q in QUESTIONS]
    right = [v in h for v, h in zip(values, heard, strict=True)]
    return SpokenCall(record.get("outcome") == "self_served", answers, values, right)


def summary(calls: list[SpokenCall], expected: int) -> dict[str, Any]:
    """The figures of one level (a call without a record counts as failed)."""
    waits = [a["after_speech_ms"] for c in calls for a in c.answers if "after_speech_ms" in a]
    spoken = [a for c in calls for a in c.answers if a.get("mode") == "speech"]
    return {
        "failed": expected - len(calls) + sum(c.failed for c in calls),
        "answers_spoken": len(spoken), "answers_heard": sum(sum(c.heard) for c in calls),
        "answers_misheard": sum(len(c.heard) - sum(c.heard) for c in calls),
        "ended_early": sum(a.get("ended") == "whole_answer" for a in spoken),
        "after_speech_ms_p50": round(percentile(waits, 50)) if waits else None,
        "after_speech_ms_p95": round(percentile(waits, 95)) if waits else None,
        "after_speech_ms_max": max(waits) if waits else None,
    }


async def bench_speaking_level(model: Path, heard: list[frozenset[str]], stream: Path, calls: int, rate: float,
                               progress: Callable[[str], None], chunk_frames: int = 0) -> dict[str, Any]:
    """``calls`` speaking callers at once on a fresh lab serving the bench's line."""
    line = Path(tempfile.mkdtemp(prefix="ivr-speaking-"))
    try:
        (line / "flows").mkdir()
        (line / "flows" / "ants-3400.yaml").write_text(FLOW, encoding="utf-8")
        (line / "heard.json").write_text(json.dumps(sorted(set().union(*heard))), encoding="utf-8")
        options = LabOptions(speech_model=model, ivr_env={
            "IVR_PROFILE": "ivr.bench.speaking_line:PROFILE", "IVR_FLOWS_DIR": str(line / "flows"),
            HEARD_ENV: str(line / "heard.json"),
            # The IVR decodes as the bench did when it found what the engine hears in each clip.
            "IVR_SPEECH_CHUNK_FRAMES": str(chunk_frames)})
        run = await run_level(options, lambda workdir: Path(shutil.copy(stream, workdir / "speaker.pcap")),
                              calls, calls, rate, progress)
    finally:
        shutil.rmtree(line, ignore_errors=True)
    judged = [judge(r, heard) for r in run.records]
    setup = run.sipp["setup_ms"]
    return {
        "calls": calls, "rate_per_s": rate, **summary(judged, calls),
        "outcomes": dict(Counter(r.get("outcome", "") for r in run.records)),
        "sipp_failed": run.sipp["sipp_failed"], "sipp_exit": run.sipp["exit"],
        "setup_ms_p50": round(percentile(setup, 50), 1), "setup_ms_p95": round(percentile(setup, 95), 1),
        **run.cpu(), "wall_s": round(run.wall, 1), "asterisk_errors": run.asterisk_errors[:5],
        **sipp_trouble(run.sipp),
    }


async def run_sip_speech_bench(levels: list[int], model: Path, *, rate: float = 20.0, target_ms: float = 300.0,
                               progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Each level (callers speaking at once) on a fresh lab; the capacity is the largest level at
    0 failed whose p95 wait after speaking is within ``target_ms``."""
    from ..listening.vosk import SpeechModel

    if shutil.which("sipp") is None:
        raise RuntimeError("SIPp is not installed (Debian package sip-tester)")
    from ..config import Settings

    prompt = _prompt_seconds()
    chunk_frames = Settings().speech_chunk_frames
    speech = await asyncio.to_thread(SpeechModel, str(model), chunk_frames=chunk_frames)
    try:
        clips = await steady_clips(speech)
    finally:
        speech.close()
    heard = [c.heard for c in clips]
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-speech-"))
    try:
        stream = speaking_stream(work / "speaker.pcap", [c.audio for c in clips], prompt)
        runs = []
        for level in levels:
            run = await bench_speaking_level(model, heard, stream, level, rate, progress, chunk_frames)
            progress(json.dumps(run))
            runs.append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    within = [r["calls"] for r in runs if r["failed"] == 0 and r["after_speech_ms_p95"] is not None
              and r["after_speech_ms_p95"] <= target_ms]
    return {"bench": "sip-speech", "at": datetime.now().isoformat(timespec="seconds"), "model": str(model),
            "target_ms": target_ms, "runs": runs, "failed": sum(r["failed"] for r in runs),
            "capacity": max(within, default=0)}
