"""WAV helpers for telephony audio: 8 kHz, mono, 16-bit signed linear."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np

__all__ = ["TELEPHONY_RATE", "read_wav", "read_wav_bytes", "write_wav", "resample", "wav_duration"]

TELEPHONY_RATE = 8000


def read_wav_bytes(data: bytes) -> tuple[bytes, int]:
    """Mono 16-bit PCM and rate from WAV bytes (stereo is mixed down)."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return _read(w)


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Mono 16-bit PCM and rate of a WAV file (stereo is mixed down)."""
    with wave.open(str(path), "rb") as w:
        return _read(w)


def _read(w: wave.Wave_read) -> tuple[bytes, int]:
    if w.getsampwidth() != 2:
        raise ValueError(f"only 16-bit WAV is supported, got {8 * w.getsampwidth()}-bit")
    frames = w.readframes(w.getnframes())
    channels = w.getnchannels()
    if channels > 1:
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
        frames = samples.astype("<i2").tobytes()
    return frames, w.getframerate()


def write_wav(path: str | Path, pcm: bytes, rate: int = TELEPHONY_RATE, *, mode: int = 0o644,
              dir_mode: int = 0o755) -> None:
    """Write mono 16-bit PCM as a WAV file, atomically, with ``mode`` whatever the process's umask.

    The temporary file has a unique name, so several writers of the same
    target (processes sharing a prompt cache) never write into each other's
    file; each rename is atomic and readers only ever see a whole WAV.
    Asterisk plays these files and may run as another user: catalog prompts
    are 0644 (a folder created here 0755); readbacks choose a narrower mode.
    """
    import tempfile

    path = Path(path)
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, dir_mode)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)  # mkstemp makes 0600: Asterisk's user could not read the prompt
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(pcm)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def resample(pcm: bytes, rate_in: int, rate_out: int = TELEPHONY_RATE) -> bytes:
    """Resample 16-bit mono PCM (soxr's high-quality filter; numpy fallback)."""
    if rate_in == rate_out or not pcm:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    try:
        import soxr

        out = soxr.resample(samples, rate_in, rate_out, quality="HQ")
    except ImportError:
        n_out = int(len(samples) * rate_out / rate_in)
        out = np.interp(np.linspace(0, len(samples) - 1, n_out), np.arange(len(samples)), samples)
    return bytes((np.clip(out, -1.0, 1.0) * 32767).astype("<i2").tobytes())


def wav_duration(path: str | Path) -> float:
    """Duration in seconds of a WAV file."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())
