"""The bundled scenarios that need more than a keypad and an AGI socket: spoken ones
(``ivr/sim/scenarios/speech``), run with the speech model's test double when no French model is at hand,
and the kept turn in a queue (``ivr/sim/scenarios/queue``), run with the simulated manager."""

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


@pytest.mark.parametrize("path", sorted(SPEECH.glob("*.yaml")), ids=lambda p: p.stem)
async def test_each_spoken_scenario_passes(path):
    async with embedded_server(speech=True, speech_model=HeardTextModelDouble()) as srv:
        [r] = await run_scenarios(load_scenarios([path]), "127.0.0.1", srv.agi_port, speed=0,
                                  records=srv.memory_records)
    assert r.passed, render_transcript(r)
    spoken = [e for e in r.record["recognition"] if e["mode"] == "speech"]
    assert spoken, "the caller's words were heard through AudioSocket, not typed"


@pytest.mark.parametrize("path", sorted(QUEUE.glob("*.yaml")), ids=lambda p: p.stem)
async def test_each_queue_scenario_passes(ami, path):  # noqa: F811
    ami.originate_result = "ignore"  # a kept place waits in the queue: no agent yet
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        [r] = await run_scenarios(load_scenarios([path]), "127.0.0.1", srv.agi_port)
    assert r.passed, render_transcript(r)
