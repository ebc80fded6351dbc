"""Noisy lines: the voice detectors, and a question over noise that nobody answers.

The corpus is the bench's own (``ivr.bench.vad_corpus``): the offline voice's French and noises made
from a seed, so these tests hear exactly what ``ivr bench vad`` measured.
"""

from __future__ import annotations

import asyncio

import pytest

from ivr.audio.vad import EndpointConfig, Endpointer
from ivr.audio.voicing import (
    VOICINGS,
    BothVoicing,
    LevelGate,
    SileroVoicing,
    VoicingUnavailable,
    make_voicing,
    silero_model_path,
)
from ivr.bench.vad_corpus import answers, mixed, noise, on_the_line
from ivr.edges.audiosocket.protocol import KIND_AUDIO, encode_frame
from ivr.interfaces import Question
from ivr.listening.speech import SpeechListener, SpeechSettings
from ivr.waiting import DEADLINE
from tests.audiosocket_peer import connected_peer


def frames(pcm: bytes):
    for i in range(0, len(pcm) - 319, 320):
        yield pcm[i:i + 320]


def voiced_share(voicing, pcm: bytes) -> float:
    verdicts = [voicing.voiced(f) for f in frames(pcm)]
    return sum(verdicts) / len(verdicts)


def test_the_level_gate_knows_the_line_from_its_first_frames_however_loud():
    """Steady noise loud from the first frame: the gate's floor is the noise within a frame or two, so
    the noise does not pass; an answer said over it does."""
    gate = LevelGate(1.5)
    loud = noise("white", 3.0, 1000)
    assert voiced_share(gate, loud[:16000]) < 0.05
    assert gate.noise_floor == pytest.approx(1000, rel=0.25)
    said = mixed(answers()[1], noise("white", len(answers()[1]) / 16000, 1000, seed=7))
    assert voiced_share(gate, said) > 0.3


def endpointer_over(voicing, pcm: bytes) -> Endpointer:
    """An endpointer with ``voicing`` fed ``pcm`` while a prompt plays (not yet listening)."""
    e = Endpointer(EndpointConfig(), clock=lambda: 0.0, voicing=voicing)
    for f in frames(pcm):
        e.feed(f)
    return e


@pytest.mark.parametrize("detector", ["webrtc", "silero"])
@pytest.mark.parametrize("kind", ["white", "pink", "brown", "car"])
def test_each_detector_with_its_gate_hears_the_voice_and_not_the_noise(detector, kind):
    """Steady noise at RMS 1,000 (6 dB under the caller), through the line's µ-law: it neither cuts a
    prompt nor starts an answer; the caller's voice over it is heard."""
    over_noise = endpointer_over(make_voicing(detector), on_the_line(noise(kind, 4.0, 1000)))
    assert not over_noise.barge_in and not over_noise.speech_started
    speech = answers()[1]
    said = on_the_line(mixed(speech, noise(kind, len(speech) / 16000, 1000)))
    assert voiced_share(make_voicing(detector), said) > 0.3


def test_a_voice_far_quieter_than_the_caller_does_not_pass_the_gate():
    """A television across the room (babble 18 dB below the caller's speech, ten different mixes): with
    the IVR's detector it neither cuts a prompt nor passes for a caller. Silero alone hears voices in
    nearly every mix."""
    rooms = [on_the_line(noise("babble", 4.0, 250, seed=s)) for s in range(10)]
    heard = [endpointer_over(make_voicing("webrtc"), room) for room in rooms]
    assert not any(e.barge_in or e.speech_started for e in heard)
    alone = [endpointer_over(SileroVoicing(), room) for room in rooms]
    assert sum(e.barge_in for e in alone) >= 5


def test_both_agree_or_the_frame_is_not_voiced():
    class Says:  # a test double voicing with a fixed verdict
        def __init__(self, verdict: bool) -> None:
            self.verdict, self.heard = verdict, 0

        def voiced(self, pcm: bytes) -> bool:
            self.heard += 1
            return self.verdict

    yes, no = Says(True), Says(False)
    assert BothVoicing(yes, Says(True)).voiced(b"\0" * 320)
    assert not BothVoicing(no, yes).voiced(b"\0" * 320)
    assert yes.heard == 2 and no.heard == 1  # each sees every frame (their state follows the line)


def test_voicings_are_named_and_a_wrong_name_or_a_missing_package_says_so(monkeypatch):
    assert set(VOICINGS) == {"silero", "webrtc", "energy"}
    with pytest.raises(ValueError, match="unknown voice detector 'loud'"):
        make_voicing("loud")
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(VoicingUnavailable, match="pip install --no-deps silero-vad onnxruntime"):
        silero_model_path()


@pytest.mark.parametrize("wanted, missing, used", [
    ("silero", {"silero"}, "webrtc"),  # the model's wheel is not installed: the default serves
    ("webrtc", {"webrtc"}, "energy"),  # nor WebRTC's: the first endpointer, which needs nothing
    (None, set(), "webrtc"),  # the default
])
async def test_a_server_falls_back_on_a_voice_detector_it_can_run(monkeypatch, wanted, missing, used):
    """A missing package must not stop the line: the server says so and listens with what it has."""
    import ivr.audio.voicing as voicing
    from ivr.server.embedded import embedded_server
    from ivr.sim.hearing import HeardTextModelDouble

    real = voicing.make_voicing

    def some_missing(kind: str, min_rms: float = 300.0):
        if kind in missing:
            raise VoicingUnavailable(f"{kind} is not installed")
        return real(kind, min_rms)

    monkeypatch.setattr(voicing, "make_voicing", some_missing)
    chosen = {"vad": wanted} if wanted is not None else {}
    async with embedded_server(speech=True, speech_model=HeardTextModelDouble(), **chosen) as srv:
        assert srv.listener.settings.vad == used


class NothingSaidUtteranceDouble:
    """A test double for a recogniser that must not be given audio: nobody speaks."""

    def submit(self, pcm: bytes) -> None:
        raise AssertionError("noise was taken for speech and sent to the recogniser")

    def abandon(self) -> None:
        pass


class NothingSaidModelDouble:
    """A test double handing out that utterance, on a node with time to spare."""

    busy = late = False

    def utterance(self, slot):
        return NothingSaidUtteranceDouble()


@pytest.mark.parametrize("kind", ["white", "brown", "car"])
async def test_a_question_over_noise_that_nobody_answers_keeps_its_prompt_and_ends_as_no_input(kind):
    """A caller in a car says nothing: the noise, there from the first frame, neither cuts the prompt nor
    passes for an answer; the question ends as no-input (« je ne vous ai pas entendu ») on time."""
    line = on_the_line(noise(kind, 12.0, 1000))
    # The endpointer of a question: its prompt plays first (here over the noise's first 3 s), then it
    # listens for 6 s.
    endpointer = Endpointer(EndpointConfig(no_input=6.0), clock=lambda: 0.0, voicing=make_voicing("webrtc"))
    cut = False
    for f in frames(line[:48000]):
        endpointer.feed(f)
        cut = cut or endpointer.barge_in
    assert not cut  # the prompt was heard whole
    async with connected_peer(b"".join(encode_frame(KIND_AUDIO, f) for f in frames(line))) as peer:
        listener = SpeechListener(peer.server, NothingSaidModelDouble(), SpeechSettings(pace=0, vad="webrtc"))
        question = Question(prompts=[], timeout=6.0)
        answer = await asyncio.wait_for(listener.listen(peer.stream, question, None), DEADLINE)
    assert answer.empty and "hangup" not in answer.details
    assert listener.stats["noinput"] == 1 and listener.stats["speech"] == 0


async def test_sound_with_no_word_in_it_is_no_input_not_a_misunderstanding():
    """The endpointer let a sound through (a door, a cough, a burst of noise) and the recogniser heard no
    word in it: the caller said nothing, so the question ends as no-input (« je ne vous ai pas
    entendu »), not as « je n'ai pas compris »."""
    from tests.test_complete_answers import UtteranceDouble, hear, tone

    answer, _ = await hear("", complete_silence=0.15, utterance=UtteranceDouble("", len(tone(1.0))))
    assert answer.empty and answer.details.get("no_word")
