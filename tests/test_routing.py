"""Routing rules, live queue state over AMI (panoramisk against the AMI simulator), callbacks."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from ivr.ants3400.profile import PROFILE
from ivr.config import DEFAULT_RULES
from ivr.edges.ami.controller import AmiController
from ivr.routing.rules import load_rules
from ivr.server.embedded import embedded_server
from ivr.sim.ami import SimAmi
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.store.sqlite import SqliteStore
from ivr.waiting import DEADLINE, until
from ivr.yamlsrc import SourceError
from tests.clocks import OPEN

SIMPLE = "5458443881"  # carte grise, en instruction
COMPLEX = "3475047269"  # carte grise, expertise


def call(*steps, caller="0612345678", **expect) -> Scenario:
    return Scenario.model_validate({"name": "route", "call": {"at": OPEN, "caller": caller},
                                    "steps": [{"kind": "press", "digits": d} if isinstance(d, str) else d for d in steps],
                                    "expect": expect})


def not_answered(number: str, *extra, **expect) -> Scenario:
    """Title carte grise, the file read back, « question not answered »: the flow routes with the status."""
    return call("1", "1", f"{number}#", "1", "2", *extra, **expect)


@pytest.fixture
async def ami():
    sim = SimAmi(auth_delay=0.2)
    await sim.start()
    yield sim
    await sim.stop()


def ami_settings(sim: SimAmi, **more) -> dict:
    return {"ami_host": "127.0.0.1", "ami_port": sim.bound_port, "ami_user": "ivr",
            "ami_secret": SecretStr("ivrsecret"), **more}


async def connected(srv) -> None:
    assert await srv.ami.wait_connected(DEADLINE)
    await srv.ami.refresh_queues()


def test_shipped_rules_are_valid_and_broken_copies_name_the_line(tmp_path):
    rules = load_rules(DEFAULT_RULES, PROFILE.fact_types)
    assert rules.rules[-1].queue == "contractor"
    text = DEFAULT_RULES.read_text(encoding="utf-8")
    bad = tmp_path / "rules.yaml"
    bad.write_text(text.replace("    queue: inhouse\n    reason: refused_file", "    queue: interne\n    reason: refused_file")
                   .replace("when: {complex: true}", "when: {complexe: true}", 1), encoding="utf-8")
    with pytest.raises(SourceError) as err:
        load_rules(bad, PROFILE.fact_types)
    lines = bad.read_text().splitlines()
    assert any(m.startswith(f"{bad}:{lines.index('    queue: interne') + 1}: ") and "'interne' is not a known queue" in m
               for m in err.value.messages)
    assert any("unknown field 'complexe'" in m for m in err.value.messages)


async def test_rules_alone_without_ami():
    async with embedded_server() as srv:
        results = await run_scenarios([not_answered(SIMPLE, outcome="routed:contractor"),
                                       not_answered(COMPLEX, outcome="routed:inhouse",
                                                    variables={"IVR_STATUS": "expertise"})],
                                      "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert [r.failures for r in results] == [[], []]
        assert {r.record["rule"] for r in results} == {"tout le reste (premier niveau)",
                                                       "dossier en centre d'expertise ou complexe"}


async def test_overflow_and_wait_announcement_follow_scripted_queue_load(ami):
    # The in-house team is swamped: 12 callers for 2 agents, 300 s per call → about 30 minutes.
    ami.set_load("inhouse", logged_in=2, available=0, callers=12, talk_time=300)
    ami.set_load("contractor", logged_in=10, available=0, callers=3, talk_time=200)
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        assert srv.ami.board.get("inhouse").expected_wait() > 600
        results = await run_scenarios(
            [
                # A refused file would go in-house, but it is not complex: overflow to the contractor.
                not_answered("7480058889", outcome="routed:contractor"),
                # A complex file stays in-house whatever the wait, and the caller hears the wait.
                not_answered(COMPLEX, "2", outcome="routed:inhouse"),
            ],
            "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert [r.failures for r in results] == [[], []]
        refused, complex_ = results
        assert refused.record["rule"] == "dossier refusé" and refused.record["queue"] == "contractor"
        assert any(p.startswith("dyn-") for p in complex_.trace.channel.prompts[-3:])  # « le temps d'attente… »
        # Over 300 s a callback was offered (and declined with 2).
        assert any(p.startswith("offre_rappel") for p in complex_.trace.channel.prompts)
        assert complex_.record["expected_wait"] > 600
        # Load drops: no announcement, no offer.
        ami.set_load("inhouse", logged_in=2, available=2, callers=0, talk_time=300)
        await srv.ami.refresh_queues()
        [calm] = await run_scenarios([not_answered(COMPLEX, outcome="routed:inhouse")], "127.0.0.1", srv.agi_port,
                                     records=srv.memory_records)
        assert calm.passed and not any(p.startswith("offre_rappel") for p in calm.trace.channel.prompts)
        assert calm.record["expected_wait"] == 0


async def test_third_call_of_the_day_gets_priority(ami):
    # Counting must not depend on how fast the store answers on this machine today (see below).
    async with embedded_server(**ami_settings(ami, store_call_timeout=DEADLINE / 2)) as srv:
        await connected(srv)
        priorities = []
        for _ in range(3):
            [r] = await run_scenarios([call("1", "2", caller="0611223344", outcome="routed:contractor")],
                                      "127.0.0.1", srv.agi_port, records=srv.memory_records)
            assert r.passed, r.failures
            priorities.append(r.trace.channel.variables.get("IVR_PRIORITY"))
        assert priorities == [None, None, "10"]


async def test_callback_is_kept_originated_when_an_agent_is_free_and_survives_a_restart(ami, tmp_path):
    store_path = tmp_path / "ivr.sqlite"
    ami.set_load("contractor", logged_in=3, available=0, callers=9, talk_time=240)
    # The booking must not depend on how fast this machine writes the SQLite file today (a CI run saw a
    # write over the 0.5 s a store operation may hold a caller, and the caller routed to the queue).
    async with embedded_server(**ami_settings(ami, store=store_path, store_call_timeout=DEADLINE / 2)) as srv:
        await connected(srv)
        [r] = await run_scenarios([call("1", "2", "1", outcome="callback", prompts=["offre_rappel"])],
                                  "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.passed, r.failures
        assert r.trace.channel.hung_up_by_ivr and "IVR_QUEUE" not in r.trace.channel.variables
        pending = await srv.store.callbacks("pending")
        assert [(c.number, c.queue) for c in pending] == [("0612345678", "contractor")]
        assert await srv.dialer.tick() == 0  # no free agent yet: nothing dialled
    # The IVR restarts; the callback is still there and goes out when an agent is free.
    ami.set_load("contractor", logged_in=3, available=1, callers=0)
    async with embedded_server(**ami_settings(ami, store=store_path)) as srv:
        await connected(srv)
        assert await srv.dialer.tick() == 1
        assert [c.state for c in await srv.store.callbacks()] == ["done"]
        sent = ami.originates[-1]
        assert sent["channel"] == "Local/0612345678@ivr-callback-out" and sent["context"] == "ivr-callback"
        assert "IVR_QUEUE=contractor" in sent["variable"] and "IVR_REASON=callback" in sent["variable"]


async def test_failed_callback_is_retried_then_given_up(tmp_path, ami):
    ami.originate_result = "failure"
    ami.set_load("contractor", logged_in=1, available=1)
    store = await SqliteStore(tmp_path / "s.sqlite").open()
    controller = AmiController("127.0.0.1", ami.bound_port, "ivr", "ivrsecret")
    controller.start()
    try:
        assert await controller.wait_connected(DEADLINE)
        await controller.refresh_queues()
        from ivr.routing.callbacks import CallbackDialer

        await store.add_callback("0611111111", "contractor", "agent_requested")
        dialer = CallbackDialer(store, controller, ["inhouse", "contractor"], retry_after=0)
        for _ in range(3):
            assert await dialer.tick() == 1
        assert [c.state for c in await store.callbacks()] == ["failed"]
        assert await dialer.tick() == 0
    finally:
        await controller.stop()
        await store.close()


async def test_ami_drop_and_return_during_fifty_calls(ami):
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        scenarios = [call("1", "2", caller=f"06000000{i:02d}", outcome="routed:contractor") for i in range(50)]
        menu = PromptGate("menu_titre")  # the first 25 calls wait in the menu while the AMI drops
        calls = asyncio.create_task(run_scenarios(scenarios, "127.0.0.1", srv.agi_port, concurrency=25,
                                                  records=srv.memory_records, speed=0, gate=menu))
        await until(lambda: menu.held == 25, "25 calls in the menu", seen=lambda: menu.held)
        ami.drop(refuse_for=1.0)
        menu.release()
        results = await calls
        assert [r.failures for r in results if not r.passed] == []
        assert len(srv.memory_records.records) == 50
        # The manager is back after its refusals: the controller logs in again by itself.
        assert await srv.ami.wait_connected(DEADLINE)
        assert ami.logins == 2


async def test_wrong_credentials_are_reported_and_calls_still_route(ami):
    async with embedded_server(**ami_settings(ami, ami_secret=SecretStr("wrong"))) as srv:
        await until(lambda: srv.ami.state == "auth_failed", "the login refused", seen=lambda: srv.ami.state)
        [r] = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", srv.agi_port,
                                  records=srv.memory_records)
        assert r.passed, r.failures


async def test_queue_status_and_unknown_actions_over_panoramisk(ami):
    controller = AmiController("127.0.0.1", ami.bound_port, "ivr", "ivrsecret")
    controller.start()
    try:
        assert await controller.wait_connected(DEADLINE)
        items = await controller.action({"Action": "QueueStatus"}, as_list=True)
        events = [m.get("Event") for m in items]
        assert events.count("QueueParams") == 2 and events[-1] == "QueueStatusComplete"
        reply = await controller.action({"Action": "NoSuchAction"})
        assert reply.get("Response") == "Error" and "Invalid/unknown command" in reply.get("Message")
    finally:
        await controller.stop()


async def test_calls_today_counts_the_lines_local_day_not_the_machines(tmp_path):
    """00:30 in Paris is already the next day although UTC still says the day before."""
    from datetime import datetime
    from types import SimpleNamespace

    from ivr.routing.router import RulesRouter

    class CountingStoreDouble:
        days: list = []

        async def count_call(self, number, day):
            self.days.append(day)
            return 1

    store = CountingStoreDouble()
    router = RulesRouter(load_rules(DEFAULT_RULES, PROFILE.fact_types), PROFILE.routing_facts, store=store)
    call_ = SimpleNamespace(variables={}, caller_number="0611223344", caller_withheld=False,
                            now=datetime.fromisoformat("2026-11-24T23:30:00+00:00"),
                            record=SimpleNamespace(rule=None, expected_wait=None))
    await router.decide(call_, "auto", "")
    assert [d.isoformat() for d in store.days] == ["2026-11-25"]
