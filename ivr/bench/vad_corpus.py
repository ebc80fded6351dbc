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

__all__ = ["RATE", "SPEECH_RMS", "NOISE_KINDS", "noise", "answers", "mixed", "on_the_line", "voiced_span", "active_rms"]

RATE = 8000
#: 16-bit RMS of the answers' voiced frames.
SPEECH_RMS = 2000.0
NOISE_KINDS = ("white", "pink", "brown", "car", "babble")
#: A frame is voiced, in the clean answers, above this RMS (the voice's own pauses are digital silence).
_CLEAN_VOICED_RMS = 100.0
_FRAME = 160  # samples: 20 ms

#: What the babble's voices say (written for this bench: any French will do).
_BABBLE = (
    "je vous rappelle demain matin pour le rendez-vous de la préfecture",
    "il faut encore passer à la boulangerie avant qu'elle ne ferme",
    "les enfants rentrent de l'école vers cinq heures et demie",
    "on a pris la voiture pour aller voir ma sœur à Lyon dimanche",
    "le match commence à neuf heures sur la deuxième chaîne",
    "tu as vu le prix de l'essence cette semaine, c'est incroyable",
)


@dataclass(frozen=True)
class Span:
    """Where speech is in an answer: first and last voiced sample (end excluded)."""

    start: int
    end: int


def _to_pcm(samples: np.ndarray, rms: float) -> bytes:
    """``samples`` scaled to ``rms`` (16-bit), clipped, as little-endian PCM."""
    now = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    scaled = samples * (rms / now) if now > 0 else np.zeros_like(samples)
    return bytes(np.clip(np.round(scaled), -32768, 32767).astype("<i2").tobytes())


def _shaped(count: int, rng: np.random.Generator, gain: np.ndarray | None = None) -> np.ndarray:
    """White noise whose spectrum is multiplied by ``gain`` (one value per rfft bin)."""
    white = rng.standard_normal(count)
    if gain is None:
        return white
    return np.fft.irfft(np.fft.rfft(white) * gain, n=count)


def _frequencies(count: int) -> np.ndarray:
    freqs = np.fft.rfftfreq(count, 1 / RATE)
    freqs[0] = freqs[1] if len(freqs) > 1 else 1.0  # no infinite gain at 0 Hz
    return freqs


def noise(kind: str, seconds: float, rms: float, seed: int = 3400) -> bytes:
    """``seconds`` of noise of ``kind`` (one of :data:`NOISE_KINDS`) at 16-bit RMS ``rms``."""
    count = int(seconds * RATE)
    if rms <= 0 or count == 0:
        return bytes(2 * count)
    rng = np.random.default_rng(seed)
    if kind == "white":
        samples = _shaped(count, rng)
    elif kind == "pink":
        samples = _shaped(count, rng, 1 / np.sqrt(_frequencies(count)))
    elif kind == "brown":
        samples = _shaped(count, rng, 1 / _frequencies(count))
    elif kind == "car":
        freqs = _frequencies(count)
        rumble = _shaped(count, rng, (1 / freqs) / (1 + (freqs / 300.0) ** 4))
        t = np.arange(count) / RATE
        hum = np.sin(2 * np.pi * 90 * t) + 0.5 * np.sin(2 * np.pi * 180 * t)
        samples = rumble / np.std(rumble) + 0.3 * hum
    elif kind == "babble":
        samples = _babble(count, rng)
    else:
        raise ValueError(f"unknown noise {kind!r} (one of {', '.join(NOISE_KINDS)})")
    return _to_pcm(samples, rms)


def _babble(count: int, rng: np.random.Generator) -> np.ndarray:
    """Six voices at once, each its sentence on a loop from a random point, at equal levels."""
    total = np.zeros(count)
    for i, voice in enumerate(_babble_voices()):
        looped = np.tile(voice, count // len(voice) + 2)
        start = int(rng.integers(0, len(voice)))
        total += looped[start:start + count] / (np.std(voice) or 1.0) * (1 + 0.1 * i)
    return total


@lru_cache(maxsize=1)
def _babble_voices() -> tuple[np.ndarray, ...]:
    from ..tts.espeak import Voice, synthesize

    voices = []
    for i, text in enumerate(_BABBLE):
        voice = Voice(name="fr", rate=140 + 10 * i, pitch=30 + 8 * i)
        voices.append(np.frombuffer(_telephone(*synthesize(text, voice)), dtype="<i2").astype(np.float64))
    return tuple(voices)


def _telephone(pcm: bytes, rate: int) -> bytes:
    from ..audio.wav import TELEPHONY_RATE, resample

    return resample(pcm, rate, TELEPHONY_RATE)


def active_rms(pcm: bytes) -> float:
    """The RMS of the voiced 20 ms frames of clean speech (its level, pauses left out)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // _FRAME * _FRAME].reshape(-1, _FRAME)
    levels = np.sqrt(np.mean(np.square(frames), axis=1))
    voiced = frames[levels > _CLEAN_VOICED_RMS]
    return float(np.sqrt(np.mean(np.square(voiced)))) if len(voiced) else 0.0


def voiced_span(pcm: bytes) -> Span:
    """First and last voiced sample of clean speech (by 20 ms frames)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = samples[: len(samples) // _FRAME * _FRAME].reshape(-1, _FRAME)
    voiced = np.flatnonzero(np.sqrt(np.mean(np.square(frames), axis=1)) > _CLEAN_VOICED_RMS)
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

    said = [_telephone(*synthesize(text)) for _, text in UTTERANCES]
    for number in KOREAN_NUMBERS:
        korean = ", ".join(KO_DIGITS[int(d)] for d in number)
        said.append(_telephone(*synthesize(korean, Voice(name="ko", rate=120))))
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
