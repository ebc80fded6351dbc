"""Endpointing for 8 kHz telephone audio: when speech starts, when it ends, or nothing was said.

Which frames are voiced is :mod:`ivr.audio.voicing`'s to tell. Decisions use audio time when frames
flow and wall-clock time when they do not: on some channels Asterisk sends no frames during silence,
so a silence timeout that counted frames would never fire.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .voicing import EnergyVoicing, Voicing, frame_rms

__all__ = ["EndpointConfig", "Endpointer", "frame_rms"]


@dataclass(frozen=True)
class EndpointConfig:
    """When a caller has finished speaking: the timings of the endpointer."""

    #: Seconds without speech (after the prompt) before no-input.
    no_input: float = 6.0
    #: Trailing silence that ends an utterance.
    end_silence: float = 0.8
    #: Longest utterance; the recogniser's best result so far is used past it.
    max_speech: float = 12.0
    #: Voiced time needed before speech counts as started (a cough is shorter).
    min_speech: float = 0.12
    #: Voiced time needed before speech interrupts a prompt.
    barge_in_speech: float = 0.35
    #: Absolute energy floor for "voiced" (16-bit RMS; :class:`~ivr.audio.voicing.EnergyVoicing`).
    min_rms: float = 300.0
    #: Voiced when energy exceeds this many times the noise floor (the same).
    noise_ratio: float = 3.0


@dataclass
class Endpointer:
    """Feed frames (and clock ticks); it says when speech started, when it ended, or no-input.

    Time is counted in audio (frames received) plus, when frames stop
    flowing, the wall-clock gap since the last frame. Counting the wall clock
    only across gaps keeps a backlog of queued frames (a busy server) from
    being mistaken for silence.
    """

    config: EndpointConfig = field(default_factory=EndpointConfig)
    clock: Callable[[], float] = time.monotonic
    #: What tells a voiced frame (None: energy against the line's noise floor, by ``config``).
    voicing: Voicing | None = None
    audio_time: float = 0.0
    voiced_time: float = 0.0
    speech_started: bool = False
    _run_voiced: float = 0.0
    _silence_audio: float = 0.0
    _last_frame_wall: float | None = None
    _listen_audio: float | None = None
    _listen_wall: float = 0.0
    _speech_start_audio: float = 0.0
    _gap_slack: float = 0.06

    def __post_init__(self) -> None:
        if self.voicing is None:
            self.voicing = EnergyVoicing(self.config.min_rms, self.config.noise_ratio)

    def start_listening(self) -> None:
        """Start the no-input clock (at the end of the prompt)."""
        self._listen_audio = self.audio_time
        self._listen_wall = self.clock()

    def _gap(self) -> float:
        """Wall-clock time since frames stopped arriving (0 while they flow)."""
        since = max(self._last_frame_wall or 0.0, self._listen_wall)
        return max(0.0, self.clock() - since - self._gap_slack)

    def feed(self, pcm: bytes) -> bool:
        """Account one frame; returns whether it was voiced."""
        seconds = len(pcm) / 16000
        self._last_frame_wall = self.clock()
        self.audio_time += seconds
        assert self.voicing is not None
        voiced = self.voicing.voiced(pcm)
        if voiced:
            self._run_voiced += seconds
            self.voiced_time += seconds
            self._silence_audio = 0.0
            if not self.speech_started and self._run_voiced >= self.config.min_speech:
                self.speech_started = True
                self._speech_start_audio = self.audio_time - self._run_voiced
        else:
            self._run_voiced = 0.0
            if self.speech_started:
                self._silence_audio += seconds
        return voiced

    @property
    def barge_in(self) -> bool:
        """Enough real speech to interrupt a prompt."""
        return self.voiced_time >= self.config.barge_in_speech

    def trailing_silence(self, *, idle: bool = True) -> float:
        """Seconds of silence since the caller's speech last stopped (0 before speech or while speaking)."""
        if not self.speech_started or self._run_voiced > 0:
            return 0.0
        return self._silence_audio + (self._gap() if idle else 0.0)

    def status(self, *, idle: bool = True) -> str:
        """``listening``, ``speaking``, ``ended`` (trailing silence), ``max`` (too long) or ``noinput``.

        ``idle`` says no frame is waiting to be processed: only then does
        wall-clock time count as silence (a backlog is not silence).
        """
        gap = self._gap() if idle else 0.0
        if self.speech_started:
            if self._silence_audio + gap >= self.config.end_silence:
                return "ended"
            if self.audio_time - self._speech_start_audio + gap >= self.config.max_speech:
                return "max"
            return "speaking"
        if self._listen_audio is None:
            return "listening"
        waited = self.audio_time - self._listen_audio + gap
        return "noinput" if waited >= self.config.no_input else "listening"
