"""Prompt files an administrator may drop in, and whether Asterisk's ``format_wav`` opens them.

``tests/e2e/test_prompt_audio.py`` asks the real Asterisk 22 about each; the fast suite holds the
checker and the simulator to the same table.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


def wav_bytes(encoding: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16, seconds: float = 0.5) -> bytes:
    """A WAV file of silence with the given format (``encoding`` 1 is linear PCM, 6 A-law, 7 µ-law)."""
    data = int(rate * seconds) * channels * bits // 8
    fmt = struct.pack("<HHIIHH", encoding, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data) + b"\0" * data)


@dataclass(frozen=True)
class WavCase:
    """One file and what Asterisk does with it."""

    name: str
    content: bytes
    #: Asterisk opens and plays it (STREAM FILE answers 0, Playback sets SUCCESS).
    asterisk_plays: bool
    #: The checker refuses it.
    checker_refuses: bool
    #: Seconds of audio it holds.
    seconds: float = 0.0


CASES = (
    WavCase("8 kHz mono 16-bit", wav_bytes(seconds=0.5), asterisk_plays=True, checker_refuses=False, seconds=0.5),
    WavCase("44.1 kHz", wav_bytes(rate=44100), asterisk_plays=False, checker_refuses=True),
    WavCase("16 kHz", wav_bytes(rate=16000), asterisk_plays=False, checker_refuses=True),
    WavCase("stereo", wav_bytes(channels=2), asterisk_plays=False, checker_refuses=True),
    WavCase("8-bit", wav_bytes(bits=8), asterisk_plays=False, checker_refuses=True),
    WavCase("A-law", wav_bytes(encoding=6, bits=8), asterisk_plays=False, checker_refuses=True),
    WavCase("an MP3 named .wav", b"ID3\x04" + b"\0" * 400, asterisk_plays=False, checker_refuses=True),
    WavCase("an empty file", b"", asterisk_plays=False, checker_refuses=True),
    WavCase("no samples", wav_bytes(seconds=0), asterisk_plays=False, checker_refuses=True),
)
