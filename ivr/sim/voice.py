"""The simulated caller's voice: synthesised text or a WAV file, as 8 kHz PCM."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ..audio.wav import TELEPHONY_RATE, read_wav, resample
from .hearing import CLIPS
from .scenario import Say

__all__ = ["caller_audio", "text_audio"]


@lru_cache(maxsize=256)
def text_audio(text: str) -> bytes:
    """French text spoken by the offline synthesiser, 8 kHz 16-bit mono."""
    from ..tts.catalog import render_text

    return render_text(text)


def caller_audio(step: Say, base_dir: Path | None = None) -> bytes:
    """The audio a ``say`` step sends."""
    if step.text is not None:
        pcm = text_audio(step.text)
        CLIPS.remember(step.text, pcm)  # for the speech model's test double (ivr.sim.hearing)
        return pcm
    path = Path(step.audio or "")
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    pcm, rate = read_wav(path)
    return resample(pcm, rate, TELEPHONY_RATE)
