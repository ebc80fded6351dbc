"""The bundled scenarios give the same results whatever the machine's clock says, and in any order.

CI runs at any hour of any day: the machine clock is frozen (time-machine) at
the edges of the opening hours, on a holiday and on both daylight-saving
nights. Every bundled scenario fixes its own time (``call.at``), so each must
pass at every one of those instants; a call that does not fix its time is
there to prove the frozen clock really reached the server.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import time_machine

from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from tests.clocks import FROZEN_CLOCKS
from tests.notice_switch import notices_of

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = [ROOT / "ivr" / "sim" / "scenarios", ROOT / "tests" / "scenarios"]


@pytest.fixture(scope="module")
def bundled() -> list[Scenario]:
    scenarios = load_scenarios(BUNDLED)
    assert len(scenarios) > 30
    return scenarios


def test_every_bundled_scenario_fixes_its_time(bundled):
    assert [s.name for s in bundled if s.call.at is None] == []


def _clockless_call() -> Scenario:
    """A call that does not say when it happens: the machine clock decides opening hours."""
    return Scenario.model_validate({"name": "sans heure", "steps": [{"kind": "press", "digits": "1"},
                                                                     {"kind": "hangup"}]})


@pytest.mark.parametrize("label", list(FROZEN_CLOCKS))
async def test_bundled_scenarios_pass_whatever_the_machine_clock(label, bundled):
    instant, line_open = FROZEN_CLOCKS[label]
    with time_machine.travel(datetime.fromisoformat(instant), tick=True):
        async with embedded_server() as srv:
            results = await run_scenarios(bundled + [_clockless_call()], "127.0.0.1", srv.agi_port,
                                          concurrency=8, records=srv.memory_records, speed=0, notices=notices_of(srv))
    *scenario_results, clockless = results
    assert {r.scenario.name: r.failures for r in scenario_results if not r.passed} == {}
    # The frozen clock did reach the server: a call without `at` meets the line open or closed.
    assert clockless.outcome == ("caller_hangup" if line_open else "closed_hours"), clockless.failures


def _observed(results) -> dict[str, tuple]:
    return {r.scenario.name: (r.outcome, r.record["queue"], r.record["reason"],
                              tuple(sorted(r.trace.channel.variables.items()))) for r in results}


async def test_bundled_scenarios_give_the_same_results_in_any_order(bundled):
    """Each scenario is its own caller: no call count, priority or state leaks from one to another."""
    observed = []
    for order in (bundled, bundled[::-1]):
        async with embedded_server() as srv:
            # One at a time, so the order is the order the server sees.
            observed.append(_observed(await run_scenarios(order, "127.0.0.1", srv.agi_port, records=srv.memory_records,
                                                          speed=0, notices=notices_of(srv))))
    forward, backward = observed
    assert forward == backward
    assert not any("IVR_PRIORITY" in dict(v[3]) for v in forward.values())
