"""WAV helpers for telephony audio: 8 kHz, mono, 16-bit signed linear."""

from __future__ import annotations

import io
import os
import wave
from pathlib import Path

import numpy as np

__all__ = ["TELEPHONY_RATE", "read_wav", "read_wav_bytes", "write_wav", "resample", "wav_duration", "playable_problem",
           "wav_problem", "HEADER_BYTES"]

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


#: Bytes of a file read to judge its format (the chunks before the audio are small).
HEADER_BYTES = 4096


def playable_problem(head: bytes) -> str | None:
    """Why Asterisk would not play a ``.wav`` prompt starting with ``head``, or None if it would.

    Asterisk's ``.wav`` format is 8 kHz, mono, 16-bit linear PCM: any other rate, channel count,
    sample size or encoding is refused when the file is opened, and so is a file with no samples:
    STREAM FILE answers ``-1``, Playback sets ``FAILED``, the caller hears nothing
    (``tests/e2e/test_prompt_audio.py`` asks the real Asterisk 22). Sans-IO: give it the first
    :data:`HEADER_BYTES` of the file.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return "not a WAV file (no RIFF/WAVE header)"
    fmt: tuple[int, int, int, int] | None = None
    at = 12
    while at + 8 <= len(head):
        chunk, size = head[at:at + 4], int.from_bytes(head[at + 4:at + 8], "little")
        body = head[at + 8:at + 8 + size]
        if chunk == b"fmt " and len(body) >= 16:
            fmt = (int.from_bytes(body[0:2], "little"), int.from_bytes(body[2:4], "little"),
                   int.from_bytes(body[4:8], "little"), int.from_bytes(body[14:16], "little"))
        elif chunk == b"data":
            return _format_problem(fmt) or ("no audio (the data chunk is empty)" if size == 0 else None)
        at += 8 + size + (size & 1)  # chunks are padded to an even length
    return _format_problem(fmt) or f"no audio (no data chunk in its first {HEADER_BYTES} bytes)"


def _format_problem(fmt: tuple[int, int, int, int] | None) -> str | None:
    if fmt is None:
        return "no format chunk before the audio"
    encoding, channels, rate, bits = fmt
    wrong = []
    if encoding != 1:
        wrong.append(f"encoding {encoding} (not linear PCM)")
    if rate != TELEPHONY_RATE:
        wrong.append(f"{rate} Hz")
    if channels != 1:
        wrong.append("stereo" if channels == 2 else f"{channels} channels")
    if bits != 16:
        wrong.append(f"{bits}-bit")
    return f"{', '.join(wrong)}: Asterisk plays 8000 Hz mono 16-bit PCM only" if wrong else None


def wav_problem(path: str | Path) -> str | None:
    """Why Asterisk would not play the WAV file at ``path``, or None (:func:`playable_problem`)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER_BYTES)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    return playable_problem(head)
