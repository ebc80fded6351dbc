"""Vosk speech recognition: one model per process, one recogniser per utterance, decoding in a bounded pool.

Decoding runs in a thread pool sized to the machine, so recognition never
blocks the event loop and a burst of callers queues instead of starving
everything else.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..audio.wav import TELEPHONY_RATE, resample
from ..interfaces import SlotSpec
from ..understanding.grammar import grammar_for
from .decoding import DecodingLoad, DecodingPool, Urgency
from .model_fetch import DEFAULT_MODEL_NAME, default_models_dir

__all__ = ["SpeechModel", "Recognition", "Utterance", "ModelMissing", "find_model", "decoder_copy", "DEFAULT_MODEL_NAME",
           "N_BEST"]

#: Hypotheses decoded for a digit string.
N_BEST = 5
#: Audio of an utterance kept to decode it again (bytes of 8 kHz PCM: 30 s, beyond any question's cap).
KEPT_AUDIO = 30 * 2 * TELEPHONY_RATE

log = structlog.get_logger("ivr.speech")



class ModelMissing(RuntimeError):
    """No Vosk model at the configured place."""


def find_model(configured: str | Path | None = None) -> Path | None:
    """The model folder: ``configured`` (else the setting ``IVR_VOSK_MODEL``), else the places
    ``ivr model fetch`` writes to."""
    from ..config import Settings

    candidates = []
    if configured:
        candidates.append(Path(configured))
    setting = Settings().vosk_model
    if setting:
        candidates.append(Path(setting))
    candidates += [Path("models") / DEFAULT_MODEL_NAME,
                   default_models_dir() / DEFAULT_MODEL_NAME]
    for c in candidates:
        if (c / "am").is_dir() or (c / "conf" / "model.conf").exists():
            return c
    return None


@dataclass
class Recognition:
    """What the recogniser heard, with its confidence (None when the engine gives none)."""

    text: str
    confidence: float | None
    words: list[dict[str, Any]] = field(default_factory=list)
    partial: bool = False
    ms: float = 0.0
    #: The recogniser's hypotheses, best first, with their share of the probability (n-best mode);
    #: the first is ``text``.
    alternatives: list[tuple[str, float]] = field(default_factory=list)


class SpeechModel:
    """A loaded Vosk model and the thread pool its recognisers decode in."""

    def __init__(self, path: str | Path, *, workers: int | None = None, resample: str = "auto",
                 busy_lag: float = 0.25, chunk_frames: int = 0) -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self.path = Path(path)
        if not self.path.is_dir():
            raise ModelMissing(f"no Vosk model at {self.path}")
        started = time.monotonic()
        self._vosk = vosk
        shadow = decoder_copy(self.path, {"frames-per-chunk": str(chunk_frames)}) if chunk_frames else None
        try:
            self.model = vosk.Model(str(shadow or self.path))
        finally:
            if shadow is not None:
                shutil.rmtree(shadow, ignore_errors=True)  # read at load: no longer needed
        self.chunk_frames = chunk_frames
        self.load_seconds = time.monotonic() - started
        self.sample_rate, can_resample = _model_rate(self.path)
        if resample not in ("auto", "vosk", "soxr"):
            raise ValueError(f"resample: auto, vosk or soxr, not {resample!r}")
        #: 8 kHz telephone audio goes to the recogniser as it is when the model resamples it itself
        #: (``auto``: measured faster and as accurate as resampling with soxr first: see the README).
        self.resamples_itself = can_resample and resample != "soxr"
        self.pool = DecodingPool(workers or max(1, os.cpu_count() or 1), busy_lag=busy_lag)
        self._grammars: dict[str | None, str | None] = {}
        self._decoded = 0.0
        self._counting = threading.Lock()
        log.info("speech_model_loaded", path=str(self.path), seconds=round(self.load_seconds, 2),
                 rate=self.sample_rate)

    def known_word(self, word: str) -> bool:
        """Whether the model's vocabulary has ``word`` (grammars drop the phrases it has not)."""
        find = getattr(self.model, "find_word", None) or self.model.vosk_model_find_word
        return bool(find(word) >= 0)

    def grammar(self, slot: SlotSpec | None) -> str | None:
        """The slot's grammar as Vosk takes it; None (free dictation) when the slot has no phrases or
        the model knows none of its words."""
        key = slot.name if slot is not None else None
        if key not in self._grammars:
            phrases = grammar_for(slot.phrases, self.known_word) if slot is not None else None
            if phrases is not None and not [p for p in phrases if p != "[unk]"]:
                log.warning("grammar_unavailable", slot=key, model=str(self.path),
                            reason="the model's vocabulary has none of the slot's words (another language?)")
                phrases = None
            self._grammars[key] = json.dumps(phrases, ensure_ascii=False) if phrases else None
        return self._grammars[key]

    def utterance(self, slot: SlotSpec | None, *, alternatives: int | None = None) -> "Utterance":
        """A fresh recogniser for one utterance, with the slot's grammar. A digit string is decoded
        with ``alternatives`` hypotheses (5 by default), so the question can keep the first whose
        reading passes its check."""
        if alternatives is None:
            alternatives = N_BEST if slot is not None and slot.digits else 0
        return Utterance(self, self.grammar(slot), alternatives=alternatives)

    def count_decoded(self, seconds: float) -> None:
        """Account audio handed to a recogniser (from any decoding thread)."""
        with self._counting:
            self._decoded += seconds

    @property
    def decoded_seconds(self) -> float:
        """Seconds of audio handed to recognisers since the model was loaded."""
        return self._decoded

    @property
    def busy(self) -> bool:
        """Whether decoding runs late (see :class:`ivr.listening.decoding.DecodingPool`): new questions
        are then offered the keypad."""
        return self.pool.busy

    @property
    def late(self) -> bool:
        """Whether decoding work waits longer than ``busy_lag`` right now (a moment, not yet busy)."""
        return self.pool.lag() > self.pool.busy_lag

    def load(self) -> DecodingLoad:
        """The decoding threads' state, for the console and the metrics."""
        return self.pool.load()

    def close(self) -> None:
        """Stop the recogniser's threads."""
        self.pool.shutdown()


def _best(result: dict[str, Any]) -> dict[str, Any]:
    """A result, or its best hypothesis in n-best mode (same shape: ``text`` and ``result``)."""
    alternatives = result.get("alternatives")
    return alternatives[0] if alternatives else result


def _shares(scores: list[float]) -> list[float]:
    """Each hypothesis's share of the probability: Vosk gives log-likelihood-like scores."""
    if not scores:
        return []
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    total = sum(weights)
    return [round(w / total, 4) for w in weights]


def decoder_copy(path: Path, options: dict[str, str]) -> Path:
    """A copy of the model folder, its files linked, whose decoding configuration (``conf/model.conf``,
    read once when the model loads) has ``options`` (``{"frames-per-chunk": "51"}``) instead of its
    own: Vosk offers no other way to set them. The caller removes the folder."""
    shadow = Path(tempfile.mkdtemp(prefix="ivr-vosk-"))
    for item in path.iterdir():
        if item.name != "conf":
            (shadow / item.name).symlink_to(item.resolve())
    (shadow / "conf").mkdir()
    conf = path / "conf"
    for item in conf.iterdir() if conf.is_dir() else ():
        if item.name != "model.conf":
            (shadow / "conf" / item.name).symlink_to(item.resolve())
    own = (conf / "model.conf").read_text(encoding="utf-8") if (conf / "model.conf").exists() else ""
    kept = [line for line in own.splitlines() if line.strip().split("=", 1)[0].lstrip("-") not in options]
    (shadow / "conf" / "model.conf").write_text(
        "\n".join([*kept, *(f"--{k}={v}" for k, v in options.items()), ""]), encoding="utf-8")
    return shadow


def _model_rate(path: Path) -> tuple[int, bool]:
    """The model's sample rate and whether its feature pipeline resamples 8 kHz input itself."""
    rate, resamples = 16000, False
    conf = path / "conf" / "mfcc.conf"
    if conf.exists():
        text = conf.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"--sample-frequency=(\d+)", text)
        if m:
            rate = int(m.group(1))
        resamples = "--allow-upsample=true" in text
    return rate, resamples or rate == TELEPHONY_RATE


@dataclass
class _Segment:
    """A stretch of the utterance the recogniser closed (at a pause): its words, best first."""

    text: str
    words: list[dict[str, Any]]
    #: The hypotheses with their shares (n-best mode), best first; empty otherwise.
    alternatives: list[tuple[str, float]] = field(default_factory=list)


def _segment(raw: dict[str, Any]) -> _Segment:
    """A Vosk result (plain or n-best) as a segment, ``[unk]`` left out."""
    best = _best(raw)
    words = [w for w in best.get("result", []) if w.get("word") != "[unk]"]
    text = _known(" ".join(w["word"] for w in words) if words else best.get("text", ""))
    alternatives: list[tuple[str, float]] = []
    if "alternatives" in raw:
        shares = _shares([a.get("confidence", 0.0) for a in raw["alternatives"]])
        alternatives = [(_known(a.get("text", "")), share) for a, share in zip(raw["alternatives"], shares, strict=True)]
    return _Segment(text, words, alternatives)


def _known(text: str) -> str:
    return " ".join(t for t in text.split() if t != "[unk]")


class Utterance:
    """One utterance's recogniser. Feed 8 kHz PCM in order; finish once.

    The recogniser may close segments inside the utterance (Vosk at its own long pauses, or
    :meth:`close_segment` at a short one): the utterance's text is theirs joined, and its
    hypotheses are those of its last spoken segment after the words of the others. Hypotheses
    (n-best) are decoded only for a segment's final result, and only when asked for."""

    def __init__(self, model: SpeechModel, grammar: str | None, *, alternatives: int = 0) -> None:
        self.model = model
        self._grammar = grammar
        self._rec = self._recogniser()
        self.alternatives = alternatives
        self._resample_to = None if model.resamples_itself else model.sample_rate
        self._last_partial = ""
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._decoder: asyncio.Task[None] | None = None
        self._segments: list[_Segment] = []
        #: The utterance's audio so far (8 kHz), while under ``KEPT_AUDIO`` bytes: what lets a segment
        #: closed at a pause be taken back when the caller goes on (see :meth:`close_segment`).
        self._heard: bytearray | None = bytearray()
        self._as_one = False  # decode the utterance again as one before going on (a segment taken back)
        self.busy_seconds = 0.0
        #: The caller has paused: their audio is decoded before that of callers still speaking.
        self.trailing = False

    def _recogniser(self) -> Any:
        vosk, model = self.model._vosk, self.model
        rate = TELEPHONY_RATE if model.resamples_itself else model.sample_rate
        rec = (vosk.KaldiRecognizer(model.model, rate, self._grammar) if self._grammar
               else vosk.KaldiRecognizer(model.model, rate))
        rec.SetWords(True)
        return rec

    @property
    def _closed_text(self) -> str:
        return " ".join(s.text for s in self._segments if s.text)

    def _accept(self, pcm: bytes) -> str:
        if self._as_one:
            self._decode_as_one()
        if self._heard is not None:
            self._heard += pcm
            if len(self._heard) > KEPT_AUDIO:
                self._heard = None  # too long to decode again: a segment closed from now on stays closed
        return self._decode(pcm)

    def _decode_as_one(self) -> None:
        """Decode the utterance again from its start in a fresh recogniser, as if no segment had closed at a
        pause (a boundary inside a number, or a final result taken 150 ms into a pause, can change how
        its words are heard)."""
        self._as_one = False
        if self._heard is None:
            return
        self._rec = self._recogniser()
        self._segments, self._last_partial = [], ""
        self._decode(bytes(self._heard))

    def take_back(self) -> None:
        """The segment closed at the pause was no whole answer: before any more decoding, the utterance is
        decoded again as one from its start, so the pause leaves no mark on what is heard, and the partial
        result goes on as if the segment had never closed (see :meth:`close_segment`)."""
        self._as_one = True

    def _decode(self, pcm: bytes) -> str:
        started = time.thread_time()
        self.model.count_decoded(len(pcm) / (2 * TELEPHONY_RATE))
        if self._resample_to:
            pcm = resample(pcm, TELEPHONY_RATE, self._resample_to)
        if self._rec.AcceptWaveform(pcm):
            # Vosk closed a segment inside our utterance (a pause): keep it for the final result.
            self._segments.append(_segment(json.loads(self._rec.Result())))
            self._last_partial = self._closed_text
        else:
            partial = json.loads(self._rec.PartialResult()).get("partial", "")
            if partial:
                self._last_partial = " ".join(t for t in (self._closed_text, partial) if t)
        self.busy_seconds += time.thread_time() - started
        return self._last_partial

    async def feed(self, pcm: bytes) -> str:
        """Decode more audio now; returns the partial text so far."""
        urgency = Urgency.TRAILING if self.trailing else Urgency.SPEECH
        return await self.model.pool.submit(urgency, lambda: self._accept(pcm))

    def submit(self, pcm: bytes) -> None:
        """Queue audio for decoding without waiting: the caller's loop stays responsive
        (DTMF, hang-up, endpointing) however busy the decoding pool is."""
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._decoder = asyncio.create_task(self._decode_queue())
        self._queue.put_nowait(pcm)

    async def _decode_queue(self) -> None:
        assert self._queue is not None
        while True:
            pcm = await self._queue.get()
            if pcm is None:
                return
            await self.feed(pcm)

    def abandon(self) -> None:
        """Stop decoding: the answer came another way (keys, silence, a hang-up).

        The background decoder is cancelled and the queued audio dropped, so nothing is left
        pending for the garbage collector (a chunk already in the pool finishes there).
        """
        if self._decoder is not None and not self._decoder.done():
            self._decoder.cancel()
        self._queue = None

    async def drain(self) -> None:
        """Wait until every submitted chunk is decoded."""
        if self._queue is not None and self._decoder is not None:
            self._queue.put_nowait(None)
            await asyncio.shield(self._decoder)
            self._queue, self._decoder = None, None

    def _close(self) -> _Segment:
        """The recogniser's final result for the audio so far, as a closed segment (n-best when asked)."""
        started = time.thread_time()
        self._rec.SetMaxAlternatives(self.alternatives)
        segment = _segment(json.loads(self._rec.FinalResult()))
        self._rec.SetMaxAlternatives(0)  # partial results and Vosk's own segments: the best path only
        self.busy_seconds += time.thread_time() - started
        return segment

    async def close_segment(self) -> str:
        """At a short pause: the recogniser's final result for the audio so far, closed as a segment.
        Returns the text so far. When that is no whole answer, :meth:`take_back` undoes it (within
        ``KEPT_AUDIO`` of audio).

        A partial result lags the audio by a few hundred milliseconds (the acoustic model is evaluated
        a chunk of frames at a time, and the decoder has not settled the last word); a final result
        does not: a whole answer is known as soon as the caller pauses."""
        await self.drain()
        segment = await self.model.pool.submit(Urgency.FINAL, self._close)
        self._segments.append(segment)
        self._last_partial = self._closed_text
        return self._last_partial

    def _final(self) -> Recognition:
        if self._as_one:
            self._decode_as_one()
        segments = [*self._segments, self._close()]
        spoken = [s for s in segments if s.text or any(text for text, _ in s.alternatives)]
        last = spoken[-1] if spoken else segments[-1]
        before = " ".join(s.text for s in segments[:segments.index(last)] if s.text)
        words = [w for s in segments for w in s.words]
        text = " ".join(s.text for s in segments if s.text)
        confidence = sum(w.get("conf", 0.0) for w in words) / len(words) if words else None
        alternatives = [(" ".join(t for t in (before, alt) if t), share) for alt, share in last.alternatives]
        if alternatives:
            text, confidence = alternatives[0]
        return Recognition(text=text, confidence=confidence, words=words, alternatives=alternatives)

    async def finish(self) -> Recognition:
        """The final result of the utterance (after any submitted audio)."""
        await self.drain()
        return await self.model.pool.submit(Urgency.FINAL, self._final)

    @property
    def partial_text(self) -> str:
        """The last partial result (what was heard so far)."""
        return self._last_partial
