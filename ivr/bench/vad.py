"""``ivr bench vad``: what the endpointer makes of noise, on the bench's own corpus (:mod:`.vad_corpus`).

For each noise kind and level, three moments of a spoken question, fed in audio time (no wall clock):
- **the prompt plays** (4 s of noise, nobody speaks): is the prompt cut (barge-in) by noise alone?
- **the caller says nothing** (noise for the no-input time and 2 s more): does the question end as
  no-input on time (« je ne vous ai pas entendu »), or does the noise pass for speech (the question
  then ends as « non compris »)?
- **the caller answers** (1 s of noise, an answer over the noise, 3 s of noise): how late the start of
  speech is told, how late its end is (the endpointer waits ``end_silence`` on purpose: 0.8 s is on
  time), answers missed, and answers cut (their end told before they ended: the rest is lost).
And the CPU a stream costs per second of audio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..audio.vad import EndpointConfig, Endpointer
from ..audio.voicing import VOICINGS, SileroVoicing, Voicing, WebRtcVoicing, make_voicing, shared_silero_session
from .vad_corpus import NOISE_KINDS, RATE, answers, mixed, noise, on_the_line, voiced_span

__all__ = ["Detector", "DETECTORS", "CaseResult", "run_case", "run_vad_bench", "LEVELS", "PROMPT_SECONDS"]

#: Noise levels measured (16-bit RMS); the answers are at 2,000 over their voiced frames.
LEVELS = (250, 500, 1000, 2000)
#: How long the prompt plays over the noise.
PROMPT_SECONDS = 4.0
_FRAME_BYTES = 320  # 20 ms
_LEAD, _TAIL = 1.0, 3.0  # noise before and after an answer, seconds
#: A no-input later than this after its time is late.
_ON_TIME = 0.1


class Detector(Protocol):
    """What the bench drives: the endpointer's interface (``ivr.audio.vad.Endpointer``)."""

    speech_started: bool

    def feed(self, pcm: bytes) -> bool:
        """Account one 20 ms frame; whether it was voiced."""

    def start_listening(self) -> None:
        """The prompt ended: the no-input time starts."""

    def status(self, *, idle: bool = True) -> str:
        """``listening``, ``speaking``, ``ended``, ``max`` or ``noinput``."""

    @property
    def barge_in(self) -> bool:
        """Enough speech to cut the prompt."""


def _endpointer(voicing: Callable[[EndpointConfig], Voicing]) -> Callable[[EndpointConfig], Detector]:
    """The IVR's endpointer with ``voicing``, in audio time (the bench feeds it no wall clock)."""
    return lambda config: Endpointer(config, clock=lambda: 0.0, voicing=voicing(config))


def _product(kind: str) -> Callable[[EndpointConfig], Detector]:
    return _endpointer(lambda config: make_voicing(kind, config.min_rms))


#: The detectors the bench knows, by name: the IVR's choices (``IVR_VAD``: each model beside its level
#: gate) and the models alone.
DETECTORS: dict[str, Callable[[EndpointConfig], Detector]] = {
    **{kind: _product(kind) for kind in VOICINGS},
    "webrtc-alone": _endpointer(lambda config: WebRtcVoicing(3)),
    "silero-alone": _endpointer(lambda config: SileroVoicing(session=shared_silero_session())),
}


@dataclass(frozen=True)
class CaseResult:
    """One noise kind at one level, through one detector."""

    noise: str
    rms: float
    #: Noise alone cut the prompt (barge-in).
    prompt_cut: bool
    #: ``on time``, ``late`` or ``speech`` (the noise passed for speech: no no-input).
    no_input: str
    #: Per answer heard: how late its start and its end were told (seconds; the end includes the
    #: endpointer's own wait); None when never told.
    start_delays: list[float | None]
    end_delays: list[float | None]
    missed: int  # answers not heard at all
    cut: int  # answers ended before their end (the detector lost a syllable or more)
    cpu_s: float  # the detector's CPU over the case
    audio_s: float  # the audio it was fed

    @property
    def holds(self) -> bool:
        """Prompts stay whole and no-input stays on time at this level."""
        return not self.prompt_cut and self.no_input == "on time"


def _frames(pcm: bytes) -> Iterator[bytes]:
    for i in range(0, len(pcm) - _FRAME_BYTES + 1, _FRAME_BYTES):
        yield pcm[i:i + _FRAME_BYTES]


def prompt_cut(detector: Detector, background: bytes) -> bool:
    """Whether noise alone, while the prompt plays, is taken for a caller talking over it."""
    for frame in _frames(background):
        detector.feed(frame)
        if detector.barge_in:
            return True
    return False


def no_input(detector: Detector, background: bytes, config: EndpointConfig) -> str:
    """How a question with nobody speaking ends over ``background``."""
    detector.start_listening()
    for n, frame in enumerate(_frames(background), start=1):
        detector.feed(frame)
        status = detector.status()
        if status == "noinput":
            return "on time" if n * 0.02 <= config.no_input + _ON_TIME else "late"
        if status in ("ended", "max"):
            return "speech"
    return "speech" if detector.speech_started else "late"


@dataclass(frozen=True)
class Heard:
    """When a detector told the start and the end of one answer (seconds from the truth; None: never)."""

    start: float | None
    end: float | None
    missed: bool

    @property
    def cut(self) -> bool:
        """The end was told before the answer ended: the rest of it is lost."""
        return self.end is not None and self.end < 0


@dataclass(frozen=True)
class Spoken:
    """One answer over noise, and where its speech truly is (seconds)."""

    audio: bytes
    start: float
    end: float


def spoken(speech: bytes, kind: str, rms: float, seed: int) -> Spoken:
    """1 s of noise, the answer over the noise, 3 s of noise, through the phone line's µ-law."""
    lead, tail = bytes(2 * int(_LEAD * RATE)), bytes(2 * int(_TAIL * RATE))
    clean = lead + speech + tail
    audio = on_the_line(mixed(clean, noise(kind, len(clean) / (2 * RATE), rms, seed)) if rms else clean)
    span = voiced_span(speech)
    return Spoken(audio, _LEAD + span.start / RATE, _LEAD + span.end / RATE)


def heard(detector: Detector, answer: Spoken) -> Heard:
    """When the detector tells the answer's start and end."""
    detector.start_listening()
    started: float | None = None
    for n, frame in enumerate(_frames(answer.audio), start=1):
        detector.feed(frame)
        t = n * 0.02
        if started is None and detector.speech_started:
            started = t - answer.start
        status = detector.status()
        if status == "noinput":
            return Heard(None, None, True)
        if status in ("ended", "max"):
            return Heard(started, t - answer.end, False)
    return Heard(started, None, started is None)


def run_case(detector: Callable[[EndpointConfig], Detector], kind: str, rms: float, *,
             config: EndpointConfig = EndpointConfig(), seed: int = 3400) -> CaseResult:
    """The three moments of a question over ``kind`` noise at ``rms``; the CPU counts the detector only."""
    prompt = on_the_line(noise(kind, PROMPT_SECONDS, rms, seed))
    quiet = on_the_line(noise(kind, config.no_input + 2.0, rms, seed + 1))
    said = [spoken(a, kind, rms, seed + 2 + i) for i, a in enumerate(answers())]
    cpu0 = time.process_time()
    cut = prompt_cut(detector(config), prompt)
    ending = no_input(detector(config), quiet, config)
    hearings = [heard(detector(config), a) for a in said]
    cpu = time.process_time() - cpu0
    audio = (len(prompt) + len(quiet) + sum(len(a.audio) for a in said)) / (2 * RATE)
    return CaseResult(kind, rms, cut, ending, [h.start for h in hearings], [h.end for h in hearings],
                      sum(h.missed for h in hearings), sum(h.cut for h in hearings), cpu, audio)


def _ms(values: list[float | None]) -> int | None:
    told = [v for v in values if v is not None]
    return round(statistics.median(told) * 1000) if told else None


def run_vad_bench(detectors: list[str], *, levels: tuple[float, ...] = LEVELS, kinds: tuple[str, ...] = NOISE_KINDS,
                  progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Every detector over every noise kind and level (and silence); the summary."""
    config = EndpointConfig()
    report: dict[str, Any] = {"bench": "vad", "speech_rms": 2000, "levels": list(levels), "detectors": {}}
    for name in detectors:
        factory = DETECTORS[name]
        cases: list[CaseResult] = []
        cases.append(run_case(factory, "silence", 0, config=config))
        for kind in kinds:
            for rms in levels:
                cases.append(run_case(factory, kind, rms, config=config))
        progress(f"{name}:")
        progress(f"  {'noise':<8} {'rms':>5}  {'prompt':<7} {'no-input':<8} {'start ms':>8} {'end ms':>7} missed cut")
        for c in cases:
            progress(f"  {c.noise:<8} {c.rms:>5.0f}  {'CUT' if c.prompt_cut else 'whole':<7} {c.no_input:<8} "
                     f"{_ms(c.start_delays) or '-':>8} {_ms(c.end_delays) or '-':>7} {c.missed}/{len(c.start_delays)}  {c.cut}")
        holds = {kind: max((c.rms for c in cases if c.noise == kind and c.holds
                            and all(o.holds for o in cases if o.noise == kind and o.rms <= c.rms)), default=0)
                 for kind in kinds}
        report["detectors"][name] = {
            "cpu_s_per_stream_s": round(sum(c.cpu_s for c in cases) / sum(c.audio_s for c in cases), 6),
            "holds_up_to_rms": holds,
            "answers": sum(len(c.start_delays) for c in cases),
            "missed": sum(c.missed for c in cases),
            "cut": sum(c.cut for c in cases),
            "cases": [{**asdict(c), "start_ms_median": _ms(c.start_delays), "end_ms_median": _ms(c.end_delays)}
                      for c in cases],
        }
    return report
