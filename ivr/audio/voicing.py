"""Which 20 ms frames of 8 kHz telephone audio are a voice: the endpointer's one question per frame.

The detectors, measured against each other by ``ivr bench vad`` (README, « Noisy lines »):
- :class:`EnergyVoicing`: energy against a noise floor (no dependency; the first version);
- :class:`WebRtcVoicing`: WebRTC's voice activity detector (``webrtcvad-wheels``, a small C extension);
- :class:`SileroVoicing`: the Silero neural network run by ONNX Runtime (the model ships in the
  ``silero-vad`` wheel, installed without its PyTorch dependency, which it does not need here);
- :class:`LevelGate`, beside a detector: a voice much quieter than the line's noise floor allows is
  not the caller's.

:data:`VOICINGS` names the ones an operator chooses from (``IVR_VAD``); ``webrtc`` is the default.
"""

from __future__ import annotations

import importlib.util
import math
from collections import deque
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["Voicing", "EnergyVoicing", "LevelGate", "BothVoicing", "WebRtcVoicing", "SileroVoicing", "frame_rms",
           "VoicingUnavailable", "VOICINGS", "make_voicing", "shared_silero_session"]


class VoicingUnavailable(RuntimeError):
    """The package a detector needs is not installed."""


def frame_rms(pcm: bytes) -> float:
    """The root mean square of 16-bit little-endian PCM (0 for less than a sample)."""
    count = len(pcm) // 2
    if count == 0:
        return 0.0
    # A dot product: np.mean's Python wrapper cost three times the sum itself on a 20 ms frame, and
    # this runs for every frame of every caller.
    samples = np.frombuffer(pcm, dtype="<i2", count=count).astype(np.float32)
    return math.sqrt(float(np.dot(samples, samples)) / count)


class Voicing(Protocol):
    """Tells a voiced frame (20 ms, 16-bit, 8 kHz) from the rest, one frame after the other."""

    def voiced(self, pcm: bytes) -> bool:
        """Whether this frame is a voice."""


class EnergyVoicing:
    """Energy above ``noise_ratio`` times a noise floor (and above ``min_rms``); the floor follows the line,
    slowly, on the frames it judged unvoiced (so noise loud from the first frame never moves it: see
    ``ivr bench vad``)."""

    def __init__(self, min_rms: float = 300.0, noise_ratio: float = 3.0) -> None:
        self.min_rms, self.noise_ratio = min_rms, noise_ratio
        self.noise_floor = 100.0

    def voiced(self, pcm: bytes) -> bool:
        """Whether this frame's energy stands out of the noise."""
        rms = frame_rms(pcm)
        if rms > max(self.min_rms, self.noise_floor * self.noise_ratio):
            return True
        self.noise_floor = 0.95 * self.noise_floor + 0.05 * max(rms, 1.0)
        return False


class LevelGate:
    """Energy above ``ratio`` times the quietest frame of the last two seconds (and above ``min_rms``):
    a frame much louder than the line's own noise.

    Speech has pauses (between words, for breath) that let the line's noise through, and steady noise
    never rises far above its quietest frames, so this floor is right from the question's first frame,
    however loud the line. Alone it is no detector (the low notes of brown noise swing far above their
    quietest frames); beside a voice detector it turns away voices far quieter than the caller's (a
    television, other people in the room)."""

    #: Frames in a block, and blocks remembered: the floor is the minimum over 4 × 0.5 s.
    _BLOCK, _BLOCKS = 25, 4

    def __init__(self, ratio: float = 1.5, min_rms: float = 300.0) -> None:
        self.ratio, self.min_rms = ratio, min_rms
        self._block_min = math.inf
        self._in_block = 0
        self._minima: deque[float] = deque(maxlen=self._BLOCKS)

    @property
    def noise_floor(self) -> float:
        """The quietest frame of the last two seconds (0 before any frame)."""
        floor = min(self._block_min, *self._minima) if self._minima else self._block_min
        return 0.0 if floor == math.inf else floor

    def voiced(self, pcm: bytes) -> bool:
        """Whether this frame is well above the line's quietest."""
        rms = frame_rms(pcm)
        self._block_min = min(self._block_min, rms)
        self._in_block += 1
        if self._in_block == self._BLOCK:
            self._minima.append(self._block_min)
            self._block_min, self._in_block = math.inf, 0
        return rms > max(self.min_rms, self.noise_floor * self.ratio)


class BothVoicing:
    """Voiced when every one of ``voicings`` says so (each sees every frame, to keep its state)."""

    def __init__(self, *voicings: Voicing) -> None:
        self.voicings = voicings

    def voiced(self, pcm: bytes) -> bool:
        """Whether all agree this frame is a voice."""
        verdicts = [v.voiced(pcm) for v in self.voicings]
        return all(verdicts)


class WebRtcVoicing:
    """WebRTC's detector; ``aggressiveness`` 0 (least) to 3 (most ready to call a frame noise)."""

    def __init__(self, aggressiveness: int = 3) -> None:
        try:
            import webrtcvad
        except ImportError as exc:
            raise VoicingUnavailable("webrtcvad is not installed (pip install webrtcvad-wheels)") from exc
        self._vad = webrtcvad.Vad(aggressiveness)

    def voiced(self, pcm: bytes) -> bool:
        """WebRTC's verdict on this frame (10, 20 or 30 ms frames only)."""
        return bool(self._vad.is_speech(pcm, 8000))


def silero_model_path() -> Path:
    """The Silero model file inside the installed ``silero-vad`` wheel (the package is not imported:
    it imports PyTorch)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise VoicingUnavailable("silero-vad is not installed (pip install --no-deps silero-vad onnxruntime)")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.exists():
        raise VoicingUnavailable(f"no Silero model at {path}")
    return path


class SileroVoicing:
    """Silero's probability of speech over a ``threshold``. It reads 32 ms windows (256 samples at 8 kHz,
    after 32 samples of the window before); a 20 ms frame takes the verdict of the last whole window."""

    _WINDOW, _CONTEXT = 256, 32

    def __init__(self, threshold: float = 0.5, session: Any = None) -> None:
        self.threshold = threshold
        self._session = session or silero_session()
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._sr = np.array(8000, dtype=np.int64)
        self.probability = 0.0

    def voiced(self, pcm: bytes) -> bool:
        """Whether Silero's last window heard speech."""
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        self._pending = np.concatenate([self._pending, samples])
        while len(self._pending) >= self._WINDOW:
            window, self._pending = self._pending[:self._WINDOW], self._pending[self._WINDOW:]
            chunk = np.concatenate([self._context, window])[np.newaxis, :]
            out, self._state = self._session.run(None, {"input": chunk, "state": self._state, "sr": self._sr})
            self._context = window[-self._CONTEXT:]
            self.probability = float(out[0][0])
        return self.probability > self.threshold


def silero_session() -> Any:
    """An ONNX Runtime session of the Silero model, on one thread (a call has one stream)."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise VoicingUnavailable("onnxruntime is not installed") from exc
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(silero_model_path()), sess_options=options,
                                        providers=["CPUExecutionProvider"])


def _silero_gated(min_rms: float) -> Voicing:
    return BothVoicing(SileroVoicing(session=shared_silero_session()), LevelGate(1.5, min_rms))


def _webrtc_gated(min_rms: float) -> Voicing:
    return BothVoicing(WebRtcVoicing(3), LevelGate(2.0, min_rms))


#: The voicings an operator chooses from (``IVR_VAD``), each made fresh for a question from its
#: ``min_rms``. The gates' ratios were chosen with ``ivr bench vad``: Silero's 1.5× lost no answer
#: where 2× missed some at RMS 2,000; WebRTC's 2× is the one measured.
VOICINGS: dict[str, Callable[[float], Voicing]] = {
    "webrtc": _webrtc_gated,
    "silero": _silero_gated,
    "energy": lambda min_rms: EnergyVoicing(min_rms),
}


def make_voicing(kind: str, min_rms: float = 300.0) -> Voicing:
    """A fresh voicing of ``kind`` (one of :data:`VOICINGS`) for one question.

    Raises :class:`VoicingUnavailable` when its package is not installed."""
    if kind not in VOICINGS:
        raise ValueError(f"unknown voice detector {kind!r} (one of {', '.join(VOICINGS)})")
    return VOICINGS[kind](min_rms)


@lru_cache(maxsize=1)
def shared_silero_session() -> Any:
    """One ONNX Runtime session for every question of the process (they all run on the event loop's
    thread; each question keeps its own recurrent state)."""
    return silero_session()
