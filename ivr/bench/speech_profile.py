"""``ivr bench speech --profile``: where the CPU of a speaking caller goes, stage by stage.

Each stage is timed on one thread with ``time.thread_time`` (Vosk decodes in the calling thread, so
its C++ work counts too), on the bench's Korean digit clips through a telephone line (8 kHz µ-law),
in the 100 ms chunks a question hands the recogniser. Reported in CPU seconds per second of audio,
or milliseconds per utterance:

- the recogniser: made with its grammar; fed speech; fed silence; its partial result (and the JSON);
  its final result with one hypothesis and with five (n-best);
- around it: soxr resampling 8 → 16 kHz (what ``--resample soxr`` adds), the endpointer, AudioSocket
  framing;
- the decoder's settings: how many input frames the acoustic model evaluates at a time
  (``--frames-per-chunk``) and the search beams, each with its cost, how late the partial result
  catches up with the end of speech, and how often the final result is the same as with the
  model's own settings (the engine dithers: even its own settings do not always agree with themselves).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..ants3400.file_numbers import make_file_number
from ..audio.vad import Endpointer, frame_rms
from ..audio.wav import TELEPHONY_RATE, resample
from ..edges.audiosocket.protocol import FRAME_BYTES, KIND_AUDIO, FrameDecoder, encode_frame
from ..listening.vosk import N_BEST, SpeechModel, decoder_copy
from .speech import KO_SLOT, korean_clip

__all__ = ["profile_decoding"]

#: Bytes a question hands the recogniser at a time (100 ms).
_CHUNK = 5 * FRAME_BYTES
#: Decoder settings compared: ``--frames-per-chunk`` values, then beams (beam, max-active, lattice-beam).
CHUNKS = (0, 51, 99)
BEAMS = ((8.0, 2000, 2.0), (13.0, 7000, 6.0))


def _per_audio_second(run: Callable[[], object], audio_bytes: int) -> float:
    started = time.thread_time()
    run()
    return round((time.thread_time() - started) / (audio_bytes / (2 * TELEPHONY_RATE)), 5)


def _digits(result: str) -> str:
    assert KO_SLOT.parse is not None
    return KO_SLOT.parse(json.loads(result).get("text", "")) or ""


class _Decoding:
    """One model's recognisers over the clips, timed."""

    def __init__(self, model: SpeechModel, grammar: str) -> None:
        self.model, self.grammar = model, grammar
        self.vosk = model._vosk

    def recogniser(self) -> Any:
        return self.vosk.KaldiRecognizer(self.model.model, TELEPHONY_RATE, self.grammar)

    def decode(self, pcm: bytes, *, partial: bool = False, alternatives: int = 0) -> tuple[float, str, int | None]:
        """(CPU seconds, the digits of the final result, frames after the last voiced one when the partial
        result first equals the final one: None when it never does)."""
        rec = self.recogniser()
        cpu, partials = 0.0, []
        for i in range(0, len(pcm), _CHUNK):
            started = time.thread_time()
            rec.AcceptWaveform(pcm[i:i + _CHUNK])
            text = json.loads(rec.PartialResult()).get("partial", "") if partial else ""
            cpu += time.thread_time() - started
            partials.append(text)
        started = time.thread_time()
        rec.SetMaxAlternatives(alternatives)
        raw = json.loads(rec.FinalResult())
        cpu += time.thread_time() - started
        final = _digits(json.dumps(raw["alternatives"][0] if alternatives else raw))
        assert KO_SLOT.parse is not None
        caught = next((k for k, p in enumerate(partials) if KO_SLOT.parse(p) == final), None)
        return cpu, final, caught


def _lag_ms(caught: list[int | None], last_voiced: list[int]) -> dict[str, Any]:
    lags = [(c + 1) * _CHUNK // FRAME_BYTES * 20 - lv * 20 for c, lv in zip(caught, last_voiced, strict=True)
            if c is not None]
    return {"partial_lag_ms_median": round(statistics.median(lags)) if lags else None,
            "partial_never_final": sum(c is None for c in caught)}


def profile_decoding(model_path: str | Path, *, clips: int = 8) -> dict[str, Any]:
    """The profile of decoding the bench's Korean clips with the model at ``model_path``."""
    rng = random.Random(3400)
    speech = [korean_clip(make_file_number(rng.randrange(10**8))) for _ in range(clips)]
    lead, tail = b"\0" * 8000, b"\0" * 16000
    lines = [lead + s + tail for s in speech]
    last_voiced = [max(i for i in range(0, len(pcm), FRAME_BYTES) if frame_rms(pcm[i:i + FRAME_BYTES]) > 300)
                   // FRAME_BYTES for pcm in lines]
    audio = sum(len(pcm) for pcm in lines)
    silence = b"\0" * 16000 * 10
    model = SpeechModel(model_path, workers=1)
    out: dict[str, Any] = {"bench": "speech-profile", "model": str(model_path), "clips": clips,
                           "audio_seconds": round(audio / 16000, 1)}
    try:
        grammar = model.grammar(KO_SLOT) or "[]"
        base = _Decoding(model, grammar)
        started = time.thread_time()
        for _ in range(20):
            base.recogniser()
        out["recogniser_with_grammar_ms"] = round((time.thread_time() - started) / 20 * 1000, 2)

        def fed(pcm: bytes) -> Callable[[], None]:
            def run() -> None:
                rec = base.recogniser()
                for i in range(0, len(pcm), _CHUNK):
                    rec.AcceptWaveform(pcm[i:i + _CHUNK])
            return run

        out["decode_speech_s_per_s"] = _per_audio_second(fed(b"".join(speech)), sum(len(s) for s in speech))
        out["decode_silence_s_per_s"] = _per_audio_second(fed(silence), len(silence))
        plain = [base.decode(pcm) for pcm in lines]
        with_partials = [base.decode(pcm, partial=True) for pcm in lines]
        out["partial_results_s_per_s"] = round((sum(c for c, _, _ in with_partials) - sum(c for c, _, _ in plain))
                                               / (audio / 16000), 5)
        finals: dict[str, list[float]] = {"1": [], str(N_BEST): []}
        for pcm in lines:
            for n in (0, N_BEST):
                rec = base.recogniser()
                for i in range(0, len(pcm), _CHUNK):
                    rec.AcceptWaveform(pcm[i:i + _CHUNK])
                rec.SetMaxAlternatives(n)
                started = time.thread_time()
                rec.FinalResult()
                finals["1" if n == 0 else str(N_BEST)].append(time.thread_time() - started)
        out["final_result_ms"] = {k: round(statistics.fmean(v) * 1000, 2) for k, v in finals.items()}
        joined = b"".join(lines)
        out["soxr_8k_to_16k_s_per_s"] = _per_audio_second(
            lambda: [resample(joined[i:i + _CHUNK], TELEPHONY_RATE, 16000) for i in range(0, len(joined), _CHUNK)],
            len(joined))
        endpointer = Endpointer()
        out["endpointer_s_per_s"] = _per_audio_second(
            lambda: [endpointer.feed(joined[i:i + FRAME_BYTES]) for i in range(0, len(joined), FRAME_BYTES)],
            len(joined))
        framed = b"".join(encode_frame(KIND_AUDIO, joined[i:i + FRAME_BYTES]) for i in range(0, len(joined), FRAME_BYTES))
        decoder = FrameDecoder()
        out["audiosocket_framing_s_per_s"] = _per_audio_second(
            lambda: [decoder.feed(framed[i:i + 4096]) for i in range(0, len(framed), 4096)], len(joined))
        reference = [final for _, final, _ in with_partials]
        out["decoder_settings"] = [_setting(model_path, grammar, lines, reference, last_voiced, chunk=c)
                                   for c in CHUNKS] + [_setting(model_path, grammar, lines, reference, last_voiced,
                                                                beams=b) for b in BEAMS]
    finally:
        model.close()
    return out


def _setting(model_path: str | Path, grammar: str, lines: list[bytes], reference: list[str], last_voiced: list[int],
             *, chunk: int = 0, beams: tuple[float, int, float] | None = None) -> dict[str, Any]:
    """One decoder setting: its CPU per audio second (partial results included), how late its partial result
    catches up, and how often its final result is the one the model's own settings gave."""
    if beams is None:
        model = SpeechModel(model_path, workers=1, chunk_frames=chunk)
        label: dict[str, Any] = {"frames_per_chunk": chunk or "vosk's own (20)"}
    else:
        model = _with_beams(model_path, beams)
        label = {"beam": beams[0], "max_active": beams[1], "lattice_beam": beams[2]}
    try:
        decoding = _Decoding(model, grammar)
        runs = [decoding.decode(pcm, partial=True) for pcm in lines]
    finally:
        model.close()
    cpu = sum(c for c, _, _ in runs)
    return {**label, "cpu_s_per_s": round(cpu / (sum(len(p) for p in lines) / 16000), 5),
            **_lag_ms([c for _, _, c in runs], last_voiced),
            "same_final_pct": round(100 * sum(f == r for (_, f, _), r in zip(runs, reference, strict=True))
                                    / len(reference), 1)}


def _with_beams(model_path: str | Path, beams: tuple[float, int, float]) -> SpeechModel:
    """The model with other search beams."""
    import shutil

    beam, max_active, lattice_beam = beams
    shadow = decoder_copy(Path(model_path), {"beam": str(beam), "max-active": str(max_active),
                                             "lattice-beam": str(lattice_beam)})
    try:
        return SpeechModel(shadow, workers=1)
    finally:
        shutil.rmtree(shadow, ignore_errors=True)
