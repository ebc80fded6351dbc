"""Online prompt rendering with gTTS (Google's voice), only when asked for and reachable.

gTTS returns MP3; it is decoded with ``ffmpeg`` (or the ``miniaudio`` package
when installed) and resampled to 8 kHz. Offline, it fails with a clear message
and the offline voice stays the default.
"""

from __future__ import annotations

import io
import shutil
import subprocess

from ..audio.wav import TELEPHONY_RATE, read_wav_bytes, resample
from .espeak import Voice

__all__ = ["render_gtts", "GttsUnavailable"]


class GttsUnavailable(RuntimeError):
    """gTTS cannot render now (no internet, or the service refused)."""


def _decode_mp3(data: bytes) -> tuple[bytes, int]:
    try:
        import miniaudio  # optional

        decoded = miniaudio.decode(data, nchannels=1, sample_rate=22050)
        return decoded.samples.tobytes(), decoded.sample_rate
    except ImportError:
        pass
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise GttsUnavailable("gTTS gives MP3: install ffmpeg (or pip install miniaudio) to decode it")
    wav = subprocess.run([ffmpeg, "-loglevel", "error", "-i", "pipe:0", "-ac", "1", "-f", "wav", "pipe:1"],
                         input=data, capture_output=True, check=True).stdout
    return read_wav_bytes(wav)


def render_gtts(text: str, voice: Voice = Voice()) -> bytes:
    """French text → 8 kHz 16-bit mono PCM through gTTS (needs internet)."""
    try:
        from gtts import gTTS
        from gtts.tts import gTTSError
    except ImportError as exc:  # pragma: no cover - gtts is a dependency
        raise GttsUnavailable(str(exc)) from None
    buf = io.BytesIO()
    try:
        gTTS(text=text, lang="fr", tld="fr", slow=voice.rate < 120).write_to_fp(buf)
    except (gTTSError, OSError) as exc:
        raise GttsUnavailable(f"gTTS could not reach its service ({exc}); this machine may be offline: "
                              f"use the offline voice (the default)") from None
    pcm, rate = _decode_mp3(buf.getvalue())
    return resample(pcm, rate, TELEPHONY_RATE)
