"""The noisy corpus of ``ivr bench vad``, made by the bench itself (nothing is downloaded).

Everything is 8 kHz, 16-bit mono, as a telephone line carries it:
- noises: white; pink (-3 dB an octave); brown (-6 dB an octave); a car-like rumble (brown noise
  low-passed under 300 Hz, with an engine's hum); babble (six French voices at once, each saying
  other sentences). Each is made at a 16-bit RMS level: a caller's speech is around 1,000 – 3,000;
- answers: the offline voice's French answers of the speech bench and numbers said digit by digit in
  Korean, at :data:`SPEECH_RMS` over their voiced frames (a caller's level, however long their pauses);
- all through G.711 µ-law, as the IVR receives a phone's audio.

The same seed makes the same noises, so two detectors (or two versions of one) hear the same audio; the
offline voice's renderings move by a few samples from one call to the next (libespeak-ng keeps some
state between calls), so figures at the margin can move between runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..sim.noise import NOISE_KINDS, RATE, noise, to_line_rate

__all__ = ["RATE", "SPEECH_RMS", "NOISE_KINDS", "noise", "answers", "mixed", "on_the_line", "voiced_span", "active_rms"]

#: 16-bit RMS of the answers' voiced frames.
SPEECH_RMS = 2000.0
#: A frame is voiced, in the clean answers, above this RMS (the voice's own pauses are digital silence).
_CLEAN_VOICED_RMS = 100.0
_FRAME = 160  # samples: 20 ms


@dataclass(frozen=True)
class Span:
    """Where speech is in an answer: first and last voiced sample (end excluded)."""

    start: int
    end: int


def _frames(pcm: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The whole 20 ms frames of ``pcm`` (one row each), and which of them are voiced in clean speech."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // _FRAME * _FRAME].reshape(-1, _FRAME)
    return frames, np.sqrt(np.mean(np.square(frames), axis=1)) > _CLEAN_VOICED_RMS


def active_rms(pcm: bytes) -> float:
    """The RMS of the voiced 20 ms frames of clean speech (its level, pauses left out)."""
    frames, voiced = _frames(pcm)
    return float(np.sqrt(np.mean(np.square(frames[voiced])))) if voiced.any() else 0.0


def voiced_span(pcm: bytes) -> Span:
    """First and last voiced sample of clean speech (by 20 ms frames)."""
    voiced = np.flatnonzero(_frames(pcm)[1])
    if not len(voiced):
        return Span(0, 0)
    return Span(int(voiced[0]) * _FRAME, (int(voiced[-1]) + 1) * _FRAME)


#: Numbers said digit by digit in Korean (the offline voice, with a pause after each digit), beside the
#: French answers: the voice's short, flat syllables with pauses between them are where a detector that
#: misses a syllable ends an answer half-way (the speech benches' Korean numbers are like them).
KOREAN_NUMBERS = ("2914177763", "1706690743", "9150008063", "6083778353", "3740681241", "5868344978")


@lru_cache(maxsize=1)
def answers() -> tuple[bytes, ...]:
    """The speech bench's four French answers and six Korean numbers (:data:`KOREAN_NUMBERS`), said by
    the offline voice, at :data:`SPEECH_RMS` over their voiced frames."""
    from ..tts.espeak import Voice, synthesize
    from .speech import KO_DIGITS, UTTERANCES

    said = [to_line_rate(*synthesize(text)) for _, text in UTTERANCES]
    for number in KOREAN_NUMBERS:
        korean = ", ".join(KO_DIGITS[int(d)] for d in number)
        said.append(to_line_rate(*synthesize(korean, Voice(name="ko", rate=120))))
    out = []
    for pcm in said:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        gain = SPEECH_RMS / (active_rms(pcm) or 1.0)
        out.append(np.clip(np.round(samples * gain), -32768, 32767).astype("<i2").tobytes())
    return tuple(out)


def on_the_line(pcm: bytes) -> bytes:
    """``pcm`` as the IVR receives it from a phone: through G.711 µ-law (its quantisation noise is
    heard by the detectors too: a quiet syllable is coarser than on a recording)."""
    from ..sim.sip import mulaw_decode, mulaw_encode

    return mulaw_decode(mulaw_encode(pcm))


def mixed(speech: bytes, background: bytes) -> bytes:
    """``speech`` over ``background`` (the longer sets the length), clipped to 16 bits."""
    a = np.frombuffer(speech, dtype="<i2").astype(np.int32)
    b = np.frombuffer(background, dtype="<i2").astype(np.int32)
    out = np.zeros(max(len(a), len(b)), dtype=np.int32)
    out[: len(a)] += a
    out[: len(b)] += b
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()
