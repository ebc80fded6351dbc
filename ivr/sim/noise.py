"""Line noise for simulated calls and the voice-detector bench: white, pink (-3 dB an octave), brown
(-6 dB an octave), a car-like rumble (brown noise under 300 Hz, with an engine's hum) and babble (six
French voices at once, each saying other sentences), made at a 16-bit RMS level, 8 kHz mono (a
caller's speech is around 1,000 – 3,000). The same seed makes the same steady noise; babble is the
offline voice's, whose renderings move by a few samples from one call to the next.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["RATE", "NOISE_KINDS", "noise", "LineNoise", "to_line_rate"]

RATE = 8000
NOISE_KINDS = ("white", "pink", "brown", "car", "babble")

#: What the babble's voices say (written for this bench: any French will do).
_BABBLE = (
    "je vous rappelle demain matin pour le rendez-vous de la préfecture",
    "il faut encore passer à la boulangerie avant qu'elle ne ferme",
    "les enfants rentrent de l'école vers cinq heures et demie",
    "on a pris la voiture pour aller voir ma sœur à Lyon dimanche",
    "le match commence à neuf heures sur la deuxième chaîne",
    "tu as vu le prix de l'essence cette semaine, c'est incroyable",
)


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
        voices.append(np.frombuffer(to_line_rate(*synthesize(text, voice)), dtype="<i2").astype(np.float64))
    return tuple(voices)


def to_line_rate(pcm: bytes, rate: int) -> bytes:
    """Audio at ``rate`` resampled to the line's 8 kHz."""
    from ..audio.wav import TELEPHONY_RATE, resample

    return resample(pcm, rate, TELEPHONY_RATE)




class LineNoise:
    """A call's line noise, endless: :meth:`mix` adds the next stretch of it to what the caller sends."""

    def __init__(self, kind: str, rms: float, *, seconds: float = 30.0, seed: int = 3400) -> None:
        self._noise = np.frombuffer(noise(kind, seconds, rms, seed), dtype="<i2").astype(np.int32)
        self._at = 0

    def mix(self, pcm: bytes) -> bytes:
        """``pcm`` (16-bit) with the noise's next stretch added, clipped to 16 bits."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
        index = (self._at + np.arange(len(samples))) % len(self._noise)
        self._at = (self._at + len(samples)) % len(self._noise)
        return bytes(np.clip(samples + self._noise[index], -32768, 32767).astype("<i2").tobytes())
