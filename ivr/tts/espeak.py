"""Offline French speech synthesis with libespeak-ng (through ctypes).

Uses the library and voice data shipped by the ``espeakng-loader`` wheel, or
the ``espeak-ng`` binary when the wheel is missing. Synthesis runs in
synchronous mode: samples arrive through the synth callback at the engine's
native rate (22,050 Hz) and are returned as 16-bit mono PCM.
"""

from __future__ import annotations

import ctypes
import dataclasses
import shutil
import subprocess
import threading
from dataclasses import dataclass

__all__ = ["Voice", "EspeakUnavailable", "synthesize", "SLOW_FACTOR"]

_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_VOLUME = 2
_PARAM_PITCH = 3

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakUnavailable(RuntimeError):
    """Neither libespeak-ng (espeakng-loader) nor the espeak-ng binary is available."""


#: The slower voice's rate, as a share of the normal one (155 words a minute → 116).
SLOW_FACTOR = 0.75


@dataclass(frozen=True)
class Voice:
    """Voice settings of a prompt (part of the render cache key)."""

    name: str = "fr"
    rate: int = 150  # words per minute
    pitch: int = 50  # 0-100
    volume: int = 100

    def key(self) -> str:
        """What identifies the voice's sound (its audio is re-rendered when it changes)."""
        return f"espeak:{self.name}:{self.rate}:{self.pitch}:{self.volume}"

    def slower(self) -> Voice:
        """This voice at the slower rate callers may ask for (« moins vite »)."""
        return dataclasses.replace(self, rate=round(self.rate * SLOW_FACTOR))


class _Library:
    """libespeak-ng is not re-entrant: one instance, one lock."""

    def __init__(self) -> None:
        import espeakng_loader  # optional dependency, imported only when used

        self.lib = ctypes.CDLL(str(espeakng_loader.get_library_path()))
        data = str(espeakng_loader.get_data_path()).encode()
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if self.rate <= 0:
            raise EspeakUnavailable("espeak_Initialize failed")
        self._chunks: list[bytes] = []
        self._callback = _SYNTH_CALLBACK(self._on_samples)  # keep a reference
        self.lib.espeak_SetSynthCallback(self._callback)
        self.lock = threading.Lock()

    def _on_samples(self, wav: int | None, count: int, _events: object) -> int:
        if count > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        return 0

    def synth(self, text: str, voice: Voice) -> tuple[bytes, int]:
        with self.lock:
            if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
                raise EspeakUnavailable(f"espeak-ng has no voice {voice.name!r}")
            self.lib.espeak_SetParameter(_PARAM_RATE, voice.rate, 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, voice.pitch, 0)
            self.lib.espeak_SetParameter(_PARAM_VOLUME, voice.volume, 0)
            self._chunks = []
            encoded = text.encode("utf-8") + b"\0"
            status = self.lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
            )
            if status != 0:
                raise EspeakUnavailable(f"espeak_Synth failed with status {status}")
            pcm = b"".join(self._chunks)
            self._chunks = []
            return pcm, self.rate


_library: _Library | None = None
_library_lock = threading.Lock()


def _get_library() -> _Library | None:
    global _library
    with _library_lock:
        if _library is None:
            try:
                _library = _Library()
            except (ImportError, OSError):
                return None
        return _library


def synthesize(text: str, voice: Voice = Voice()) -> tuple[bytes, int]:
    """Render ``text``; returns (16-bit mono PCM, sample rate)."""
    lib = _get_library()
    if lib is not None:
        return lib.synth(text, voice)
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise EspeakUnavailable("install the espeakng-loader wheel or the espeak-ng binary for offline prompts")
    out = subprocess.run(
        [binary, "-v", voice.name, "-s", str(voice.rate), "-p", str(voice.pitch), "-a", str(voice.volume * 2), "--stdout", text],
        check=True,
        capture_output=True,
    ).stdout
    from ..audio.wav import read_wav_bytes

    pcm, rate = read_wav_bytes(out)
    return pcm, rate
