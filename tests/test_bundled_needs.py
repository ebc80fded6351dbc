"""The bundled scenarios that need more than a keypad and an AGI socket: spoken ones
(``ivr/sim/scenarios/speech``), run with the speech model's test double when no French model is at hand,
noisy lines (``ivr/sim/scenarios/noise``), and the kept turn in a queue (``ivr/sim/scenarios/queue``),
run with the simulated manager."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.server.embedded import embedded_server
from ivr.sim.hearing import HeardTextModelDouble
from ivr.sim.runner import render_transcript, run_scenarios
from ivr.sim.scenario import load_scenarios
from tests.test_routing import ami, ami_settings, connected  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "ivr" / "sim" / "scenarios" / "speech"
QUEUE = ROOT / "ivr" / "sim" / "scenarios" / "queue"
NOISE = ROOT / "ivr" / "sim" / "scenarios" / "noise"


@pytest.mark.parametrize("path", sorted(SPEECH.glob("*.yaml")), ids=lambda p: p.stem)
async def test_each_spoken_scenario_passes(path):
    async with embedded_server(speech=True, speech_model=HeardTextModelDouble()) as srv:
        [r] = await run_scenarios(load_scenarios([path]), "127.0.0.1", srv.agi_port, speed=0,
                                  records=srv.memory_records)
    assert r.passed, render_transcript(r)
    spoken = [e for e in r.record["recognition"] if e["mode"] == "speech"]
    assert spoken, "the caller's words were heard through AudioSocket, not typed"


@pytest.mark.parametrize("path", sorted(NOISE.glob("*.yaml")), ids=lambda p: p.stem)
async def test_each_noisy_line_scenario_passes(path):
    """A spoken question on a noisy line (the noise under every frame the caller sends, the prompt's
    time included) that the caller does not answer ends as no-input, not as an answer or a
    misunderstanding; the IVR's voice detector is the one it runs by default."""
    async with embedded_server(speech=True, speech_model=HeardTextModelDouble()) as srv:
        [r] = await run_scenarios(load_scenarios([path]), "127.0.0.1", srv.agi_port, speed=0,
                                  records=srv.memory_records)
        assert srv.listener.settings.vad == "webrtc"
    assert r.passed, render_transcript(r)
    title = next(e for e in r.record["recognition"] if e["node"] == "titre")
    assert title["noinput"] == 1 and title["nomatch"] == 0 and title["mode"] == "dtmf"
    # The caller was given the question's whole 6 s: the noise did not pass for speech that ended (the
    # first endpointer took car noise for an answer and said « pas entendu » 0.9 s into the question).
    events = r.trace.channel.events
    asked = next(e.t for e in events if "plays menu_titre over AudioSocket" in e.text)
    not_heard = next(e.t for e in events if "non_entendu" in e.text)
    assert not_heard - asked >= 6.0 - 0.05


@pytest.mark.parametrize("path", sorted(QUEUE.glob("*.yaml")), ids=lambda p: p.stem)
async def test_each_queue_scenario_passes(ami, path):  # noqa: F811
    ami.originate_result = "ignore"  # a kept place waits in the queue: no agent yet
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [r] = await run_scenarios(load_scenarios([path]), "127.0.0.1", srv.agi_port)
    assert r.passed, render_transcript(r)
