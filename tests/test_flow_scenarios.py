"""Every branch of the 34 00 flow, as real calls over TCP; a hang-up at every point of a call."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from pathlib import Path

import pytest

from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import load_scenarios
from ivr.waiting import until
from tests.notice_switch import notices_of

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIRS = [ROOT / "tests" / "scenarios", ROOT / "ivr" / "sim" / "scenarios"]


def _ivr_tasks() -> set[asyncio.Task]:
    """Live tasks, leaving out the tracking stub's pooled keep-alive HTTP connections."""
    return {t for t in asyncio.all_tasks() if "RequestHandler" not in repr(t.get_coro())}


@pytest.fixture(scope="module")
def scenarios():
    return load_scenarios(SCENARIO_DIRS)


async def test_every_scenario_passes_and_covers_every_edge_of_the_flow(scenarios):
    async with embedded_server() as srv:
        results = await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, concurrency=8,
                                      records=srv.memory_records, notices=notices_of(srv))
        failures = {r.scenario.name: r.failures for r in results if not r.passed}
        assert failures == {}
        # The bundled notice scenario closes the line; a notice that leaves it open is switched on here, as
        # an administrator would (tests/test_notices.py checks what callers hear).
        results += [await _with_notice(srv, scenarios, closes) for closes in (False, True)]
        model = srv.flows.resolve("ants-3400").model
    # Every node visited, every edge taken by at least one scenario.
    walked: set[tuple[str, str]] = set()
    visited: set[str] = set()
    for r in results:
        path = [n for n in r.record["path"] if n in model.nodes]
        visited.update(path)
        walked.update(itertools.pairwise(path))
    assert set(model.nodes) - visited == set()
    edges = {(src, dst) for src in model.nodes for _, dst in model.targets(src)}
    # A node may repeat itself on retries; that is not an edge of the drawing.
    walked = {(a, b) for a, b in walked if a != b}
    assert edges - walked == set(), "flow edges without a scenario"


async def _with_notice(srv, scenarios, closes: bool):
    base = next(s for s in scenarios if s.name == "statut au clavier, question résolue")
    at = base.call.at
    notice = await srv.store.add_notice("Annonce de test.", at - timedelta(hours=1), None, closes, "tests")
    await srv.notice_board.refresh()
    try:
        [r] = await run_scenarios([base.model_copy(update={"expect": base.expect.model_copy(update={
            "outcome": "closed_hours" if closes else base.expect.outcome, "prompts": []})})],
            "127.0.0.1", srv.agi_port, records=srv.memory_records)
    finally:
        await srv.store.end_notice(notice, "tests")
        await srv.notice_board.refresh()
    assert r.passed, r.failures
    return r


async def test_a_hangup_at_every_command_of_a_call_records_caller_hangup_and_leaks_nothing(scenarios):
    base = next(s for s in scenarios if s.name == "statut au clavier, question résolue")
    async with embedded_server() as srv:
        [full] = await run_scenarios([base], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert full.passed
        n_commands = full.trace.channel.commands
        tasks_before = len(_ivr_tasks())
        sweep = [base.model_copy(update={"call": base.call.model_copy(update={"hangup_before_command": k}),
                                         "expect": base.expect.model_copy(update={"outcome": None, "prompts": []})})
                 for k in range(1, n_commands + 1)]
        results = await run_scenarios(sweep, "127.0.0.1", srv.agi_port, concurrency=10,
                                      records=srv.memory_records)
        await until(lambda: srv.agi.active_sessions == 0 and not srv.supervisor.live, "every call gone from the server",
                    seen=lambda: (srv.agi.active_sessions, list(srv.supervisor.live)))
        await until(lambda: len(_ivr_tasks()) <= tasks_before, f"at most {tasks_before} IVR tasks",
                    seen=lambda: [t.get_coro() for t in _ivr_tasks()])
        assert {r.scenario.call.hangup_before_command: r.failures for r in results if not r.passed} == {}
        for r in results:
            k = r.scenario.call.hangup_before_command
            # Once the goodbye has been played the call was served; before that the caller left.
            expected = "self_served" if r.record["path"][-1] == "merci_note" and k >= n_commands - 1 else "caller_hangup"
            assert (k, r.outcome) == (k, expected)
        hangup_nodes = {r.record["hangup_node"] for r in results}
        # The sweep reached every node this call passes through that talks to the caller.
        # (``annonce`` says nothing when no closure notice is on.)
        talking = {n for n in full.record["path"] if n not in ("horaires", "recherche", "annonce")}
        assert talking - hangup_nodes - {"answer"} == set()
        assert srv.agi.active_sessions == 0
        assert srv.supervisor.live == {}
        assert len(_ivr_tasks()) <= tasks_before
