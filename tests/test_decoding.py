"""Decoding where it matters: the most urgent work first, nothing decoded before the caller speaks,
and a node that decodes late offers new callers the keypad instead of a wait."""

from __future__ import annotations

import asyncio
import threading
import uuid

from ivr.edges.audiosocket.protocol import KIND_AUDIO, KIND_UUID, encode_frame
from ivr.edges.audiosocket.server import AudioSocketServer
from ivr.interfaces import Question
from ivr.listening.decoding import DecodingPool, Urgency
from ivr.listening.speech import SpeechListener, SpeechSettings
from ivr.listening.vosk import Recognition
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import until
from tests.clocks import OPEN
from tests.test_complete_answers import silence, tone

DEADLINE = 30


class ManualClock:
    """A test double for the monotonic clock: time moves when the test says."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_final_result_is_decoded_before_audio_queued_earlier():
    pool = DecodingPool(1)
    gate = threading.Event()
    order: list[str] = []
    try:
        holding = pool.submit(Urgency.SPEECH, gate.wait)  # the only thread is busy
        await until(lambda: pool.load().queued == 0, "the thread took the first job")
        later = [pool.submit(Urgency.SPEECH, lambda: order.append("speech")),
                 pool.submit(Urgency.TRAILING, lambda: order.append("trailing")),
                 pool.submit(Urgency.FINAL, lambda: order.append("final"))]
        gate.set()
        await asyncio.wait_for(asyncio.gather(holding, *later), DEADLINE)
        assert order == ["final", "trailing", "speech"]
    finally:
        gate.set()
        pool.shutdown()


async def test_the_node_is_busy_once_work_has_waited_too_long_for_a_second_and_not_after_it_caught_up():
    clock = ManualClock()
    pool = DecodingPool(1, busy_lag=0.3, busy_for=1.0, clock=clock)
    gate = threading.Event()
    try:
        holding = pool.submit(Urgency.SPEECH, gate.wait)
        await until(lambda: pool.load().queued == 0, "the thread took the first job")
        waiting = pool.submit(Urgency.SPEECH, lambda: None)
        assert not pool.busy and pool.lag() == 0
        clock.now += 0.31
        assert not pool.busy and pool.load().lag > 0.3  # late, but a burst is not a busy node
        clock.now += 0.5
        assert not pool.busy
        clock.now += 0.5  # late for a second
        assert pool.busy and pool.load().busy
        gate.set()
        await asyncio.wait_for(asyncio.gather(holding, waiting), DEADLINE)
        assert pool.lag() == 0 and not pool.busy  # caught up: nothing waits any more
    finally:
        gate.set()
        pool.shutdown()


async def test_shutting_down_cancels_the_queued_work():
    pool = DecodingPool(1)
    gate = threading.Event()
    holding = pool.submit(Urgency.SPEECH, gate.wait)
    await until(lambda: pool.load().queued == 0, "the thread took the first job")
    queued = pool.submit(Urgency.SPEECH, lambda: None)
    pool.shutdown()
    gate.set()
    await asyncio.wait_for(holding, DEADLINE)
    await until(queued.cancelled, "the queued job cancelled")


class CountingUtterance:
    """A test double for a recogniser: it counts the audio it is given and hears « permis » in it."""

    def __init__(self) -> None:
        self.fed = 0
        self.partial_text = ""

    def submit(self, pcm: bytes) -> None:
        self.fed += len(pcm)

    def abandon(self) -> None:
        pass

    async def finish(self) -> Recognition:
        return Recognition(text="permis", confidence=0.9)


class CountingModel:
    """A test double handing out one counting utterance; ``busy`` as the test sets it."""

    def __init__(self) -> None:
        self.one = CountingUtterance()
        self.busy = False

    def utterance(self, slot):
        return self.one


async def test_nothing_is_decoded_before_the_caller_speaks_but_the_second_before_is():
    """Four seconds of silence, one of speech, then silence: the recogniser gets the speech, the second
    before it (so it hears the start) and the silence that ends it, not the four seconds."""
    from ivr.ants3400.profile import TITLE_TYPE

    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    model = CountingModel()
    try:
        call_uuid = str(uuid.uuid4())
        connected = server.expect(call_uuid)
        _, w = await asyncio.open_connection("127.0.0.1", server.bound_port)
        w.write(encode_frame(KIND_UUID, uuid.UUID(call_uuid).bytes))
        pcm = silence(4.0) + tone(1.0) + silence(2.0)
        for i in range(0, len(pcm), 320):
            w.write(encode_frame(KIND_AUDIO, pcm[i:i + 320]))
        await w.drain()
        stream = await asyncio.wait_for(connected, DEADLINE)
        listener = SpeechListener(server, model, SpeechSettings(pace=0))
        q = Question(prompts=[], slot=TITLE_TYPE, speech=True, timeout=10, complete_silence=None)
        answer = await asyncio.wait_for(listener.listen(stream, q, None), DEADLINE)
        assert answer.mode == "speech"
        fed_seconds = model.one.fed / 16000
        assert 1.0 + 1.0 <= fed_seconds <= 1.0 + 1.0 + 0.8 + 0.1, fed_seconds  # speech, a second before, 0.8 s after
        await stream.close()
        w.close()
    finally:
        await server.stop()


def call(*steps, **expect) -> Scenario:
    return Scenario.model_validate({"name": "busy", "call": {"at": OPEN}, "steps": list(steps), "expect": expect})


async def test_a_busy_node_asks_new_questions_for_the_keypad_and_says_so():
    """A node whose decoding runs late asks the next question in its keypad wording and does not listen
    for speech; the console and the metrics say so. Once decoding is on time again, speech is back."""
    from ivr.sim.hearing import HeardTextModelDouble

    class BusyModelDouble(HeardTextModelDouble):
        """The simulator's recogniser double, on a node whose decoding runs late."""

        busy = True

        def __init__(self) -> None:
            super().__init__()
            from ivr.listening.decoding import DecodingPool

            self.pool = DecodingPool(1)

        def load(self):
            return self.pool.load().__class__(1, 3, 1.2, self.busy, self.pool.offered_keypad)

    model = BusyModelDouble()
    try:
        async with embedded_server(speech=True, speech_model=model) as srv:
            busy = call({"kind": "press", "digits": "0"}, outcome="routed:contractor")
            [result] = await run_scenarios([busy], "127.0.0.1", srv.agi_port, records=srv.memory_records, speed=0)
            assert result.passed, result.failures
            assert "menu_titre_clavier" in [p.rsplit("/", 1)[-1] for p in result.trace.channel.prompts]
            assert model.pool.offered_keypad == 1  # counted once, where the console and the metrics read it
            ready = await srv.admin.status.readiness()
            assert ready[1]["speech"]["state"].startswith("busy") and "degraded" in ready[1]
            metrics = srv.admin.status.metrics().decode()
            assert "ivr_speech_busy 1.0" in metrics and "ivr_speech_keypad_offered 1.0" in metrics
            model.busy = False
            back = call({"kind": "press", "digits": "0"}, outcome="routed:contractor")
            [result] = await run_scenarios([back], "127.0.0.1", srv.agi_port, records=srv.memory_records, speed=0)
            assert result.passed, result.failures
            heard = [p.rsplit("/", 1)[-1] for p in result.trace.channel.prompts]
            assert "menu_titre" in heard and "menu_titre_clavier" not in heard
    finally:
        model.pool.shutdown()
