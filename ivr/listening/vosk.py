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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..audio.wav import TELEPHONY_RATE, resample
from ..interfaces import SlotSpec
from ..understanding.grammar import grammar_for
from .model_fetch import DEFAULT_MODEL_NAME, default_models_dir

__all__ = ["SpeechModel", "Recognition", "Utterance", "ModelMissing", "find_model", "DEFAULT_MODEL_NAME", "N_BEST"]

#: Hypotheses decoded for a digit string.
N_BEST = 5

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

    def __init__(self, path: str | Path, *, workers: int | None = None, resample: str = "auto") -> None:
        import vosk

        vosk.SetLogLevel(-1)
        self.path = Path(path)
        if not self.path.is_dir():
            raise ModelMissing(f"no Vosk model at {self.path}")
        started = time.monotonic()
        self._vosk = vosk
        self.model = vosk.Model(str(self.path))
        self.load_seconds = time.monotonic() - started
        self.sample_rate, can_resample = _model_rate(self.path)
        if resample not in ("auto", "vosk", "soxr"):
            raise ValueError(f"resample: auto, vosk or soxr, not {resample!r}")
        #: 8 kHz telephone audio goes to the recogniser as it is when the model resamples it itself
        #: (``auto``: measured faster and as accurate as resampling with soxr first: see the README).
        self.resamples_itself = can_resample and resample != "soxr"
        self.pool = ThreadPoolExecutor(max_workers=workers or max(1, os.cpu_count() or 1),
                                       thread_name_prefix="vosk")
        self._grammars: dict[str | None, str | None] = {}
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
            if phrases == ["[unk]"]:
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

    def close(self) -> None:
        """Stop the recogniser's threads."""
        self.pool.shutdown(wait=False, cancel_futures=True)


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


class Utterance:
    """One utterance's recogniser. Feed 8 kHz PCM in order; finish once."""

    def __init__(self, model: SpeechModel, grammar: str | None, *, alternatives: int = 0) -> None:
        self.model = model
        rate = TELEPHONY_RATE if model.resamples_itself else model.sample_rate
        vosk = model._vosk
        self._rec = vosk.KaldiRecognizer(model.model, rate, grammar) if grammar else vosk.KaldiRecognizer(model.model, rate)
        self._rec.SetWords(True)
        self.alternatives = alternatives
        if alternatives:
            self._rec.SetMaxAlternatives(alternatives)
        self._resample_to = None if model.resamples_itself else model.sample_rate
        self._last_partial = ""
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._decoder: asyncio.Task[None] | None = None
        self._closed_words: list[dict[str, Any]] = []
        self._closed_text: list[str] = []
        self.busy_seconds = 0.0

    def _accept(self, pcm: bytes) -> str:
        started = time.thread_time()
        if self._resample_to:
            pcm = resample(pcm, TELEPHONY_RATE, self._resample_to)
        if self._rec.AcceptWaveform(pcm):
            # Vosk closed a segment inside our utterance (a pause): keep it for the final result.
            result = _best(json.loads(self._rec.Result()))
            self._closed_words += result.get("result", [])
            if result.get("text"):
                self._closed_text.append(result["text"])
            self._last_partial = " ".join(self._closed_text)
        else:
            partial = json.loads(self._rec.PartialResult()).get("partial", "")
            if partial:
                self._last_partial = " ".join([*self._closed_text, partial])
        self.busy_seconds += time.thread_time() - started
        return self._last_partial

    async def feed(self, pcm: bytes) -> str:
        """Decode more audio now; returns the partial text so far."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.model.pool, self._accept, pcm)

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

    def _final(self) -> Recognition:
        started = time.thread_time()
        raw = json.loads(self._rec.FinalResult())
        self.busy_seconds += time.thread_time() - started
        result = _best(raw)
        all_words = self._closed_words + result.get("result", [])
        words = [w for w in all_words if w.get("word") != "[unk]"]
        texts = [*self._closed_text, result.get("text", "")]
        text = " ".join(w["word"] for w in words) if words else " ".join(texts)
        text = " ".join(t for t in text.split() if t != "[unk]")
        confidence = sum(w.get("conf", 0.0) for w in words) / len(words) if words else None
        alternatives: list[tuple[str, float]] = []
        if "alternatives" in raw:
            shares = _shares([a.get("confidence", 0.0) for a in raw["alternatives"]])
            closed = " ".join(self._closed_text)
            for alt, share in zip(raw["alternatives"], shares, strict=True):
                words_of = " ".join(t for t in f"{closed} {alt.get('text', '')}".split() if t != "[unk]")
                alternatives.append((words_of, share))
            if alternatives:
                text, confidence = alternatives[0]
        return Recognition(text=text, confidence=confidence, words=words, alternatives=alternatives)

    async def finish(self) -> Recognition:
        """The final result of the utterance (after any submitted audio)."""
        await self.drain()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.model.pool, self._final)

    @property
    def partial_text(self) -> str:
        """The last partial result (what was heard so far)."""
        return self._last_partial
