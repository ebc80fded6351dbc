"""Tracking stub (HTTP API, dataset, faults) and the resilient client; calls under a dead service."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

import aiohttp
import pytest

from ivr.ants3400.file_numbers import make_file_number
from ivr.ants3400.files import FileLookup
from ivr.ants3400.statuses import STATUSES
from ivr.lab.ports import free_port
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.tracking.client import CircuitBreaker, TrackingClient, TrackingUnavailable
from ivr.tracking.dataset import FAULT_NUMBERS, generate
from ivr.tracking.stub import StubConfig, start_stub
from ivr.waiting import DEADLINE
from tests.clocks import OPEN
from tests.holds import lookups_held


@pytest.fixture
async def stub():
    runner, port = await start_stub(StubConfig(per_title=300), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def test_dataset_is_reproducible_and_realistic():
    a, b = generate(seed=7, per_title=1500), generate(seed=7, per_title=1500)
    assert a == b and len(a) == 6000
    assert generate(seed=8, per_title=10) != generate(seed=7, per_title=10)
    mix = Counter(f.status for f in a)
    assert set(mix) == set(STATUSES)
    assert mix["en_instruction"] / len(a) > 0.35  # most files are simple
    assert 0.05 < mix["expertise"] / len(a) < 0.2  # a minority are complex
    durations = [(date.fromisoformat(f.expected_at) - date.fromisoformat(f.submitted_at)).days
                 for f in a if f.status == "expertise"]
    assert 17 <= sorted(durations)[len(durations) // 2] <= 27  # about three weeks
    assert not any(f.status == "disponible" and f.title_type in ("carte_grise", "permis") for f in a)


async def test_stub_api(stub):
    files = generate(per_title=300)
    sample = next(f for f in files if f.status == "attente_pieces")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{stub}/v1/files/{sample.title_type}/{sample.file_number}") as r:
            assert r.status == 200
            body = await r.json()
            assert body["status"] == "attente_pieces" and body["next_step"]
        async with http.get(f"{stub}/v1/files/permis/{make_file_number(12345678)}") as r:
            assert r.status == 404 and "error" in await r.json()
        async with http.get(f"{stub}/v1/files/permis/1234567800") as r:
            assert r.status == 422 and "mod-97" in (await r.json())["error"]
        async with http.get(f"{stub}/v1/files/bateau/{sample.file_number}") as r:
            assert r.status == 422
        unavailable = next(n for n, f in FAULT_NUMBERS.items() if f == "unavailable")
        async with http.get(f"{stub}/v1/files/cni/{unavailable}") as r:
            assert r.status == 503
        async with http.get(f"{stub}/v1/files", params={"title_type": "cni", "status": "disponible", "limit": "5"}) as r:
            listed = (await r.json())["files"]
            assert len(listed) == 5 and all(f["status"] == "disponible" and f["title_type"] == "cni" for f in listed)
        async with http.get(f"{stub}/healthz") as r:
            assert (await r.json()) == {"status": "ok"}
        async with http.put(f"{stub}/v1/_faults", json={"fail": True}) as r:
            assert r.status == 200
        async with http.get(f"{stub}/v1/files/{sample.title_type}/{sample.file_number}") as r:
            assert r.status == 503


async def test_client_results_and_readback(stub):
    files = generate(per_title=300)
    sample = next(f for f in files if f.status == "en_instruction")
    client = TrackingClient(stub)
    files_ = FileLookup(client)
    try:
        found = await files_.lookup(title_type=sample.title_type, file_number=sample.file_number)
        assert found.status == "found"
        assert found.data["readback"].startswith("Votre demande de ")
        assert "en cours d'instruction" in found.data["readback"]
        assert (await client.lookup(title_type="cni", file_number=make_file_number(12345678))).status == "not_found"
        assert (await client.lookup(title_type="cni", file_number="1234567800")).status == "invalid"
    finally:
        await client.close()


async def test_client_retries_then_gives_up_and_the_circuit_fails_fast(stub):
    unavailable = next(n for n, f in FAULT_NUMBERS.items() if f == "unavailable")
    client = TrackingClient(stub, retries=2, backoff=0.01, breaker=CircuitBreaker(threshold=3, cooldown=60))
    try:
        for _ in range(3):
            with pytest.raises(TrackingUnavailable, match="HTTP 503"):
                await client.lookup(title_type="cni", file_number=unavailable)
        assert client.breaker.state == "open"
        # Open, it does not even ask: a service that would never answer now cannot hold the lookup.
        async with lookups_held(stub) as held:
            with pytest.raises(TrackingUnavailable, match="circuit open"):
                await client.lookup(title_type="cni", file_number=make_file_number(1))
            assert await held.held() == 0
    finally:
        await client.close()


async def test_client_timeout_on_a_slow_service(stub):
    client = TrackingClient(stub, timeout=0.3)
    try:
        async with lookups_held(stub):  # the service never answers until the test is over
            with pytest.raises(TrackingUnavailable, match="no answer within 0.3 s"):
                await client.lookup(title_type="cni", file_number=make_file_number(1))
    finally:
        await client.close()


async def test_the_stub_holds_lookups_until_released(stub):
    """A tester keeps calls in their lookup as long as needed (``PUT /v1/_faults {"hold": true}``)."""
    number = next(f.file_number for f in generate(per_title=300) if f.title_type == "cni")
    async with aiohttp.ClientSession() as http, lookups_held(stub) as held:
        answer = asyncio.create_task(http.get(f"{stub}/v1/files/cni/{number}"))
        await held.wait_held(1)
        assert not answer.done()
        await held.release()
        async with await answer as resp:
            assert resp.status == 200 and (await resp.json())["file_number"] == number
        assert await held.held() == 0
        async with http.put(f"{stub}/v1/_faults", json={"latency": "soon"}) as resp:
            assert resp.status == 422


def test_breaker_half_opens_after_cooldown():
    b = CircuitBreaker(threshold=2, cooldown=0.0)
    b.failure(), b.failure()
    assert b.state == "half_open" and b.allow()
    b.success()
    assert b.state == "closed"


def lookup_call(number: str, caller: str = "0612345678") -> Scenario:
    steps = [{"kind": "press", "digits": d} for d in ("1", "1", f"{number}#", "1")]
    return Scenario.model_validate({"name": "dead", "call": {"at": OPEN, "caller": caller}, "steps": steps,
                                    "expect": {"outcome": "routed:contractor",
                                               "variables": {"IVR_REASON": "tracking_unavailable"}}})


async def _black_hole():
    """A test double of a hung tracking service: accepts connections, never answers."""
    writers = []

    async def on_conn(reader, writer):
        writers.append(writer)
        await reader.read()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1], writers


@pytest.mark.parametrize("failure", ["refused", "hung"])
async def test_hundred_calls_under_a_dead_tracking_service_all_reach_an_agent_in_time(failure):
    number = "5458443881"
    if failure == "refused":
        server = None
        port = free_port()  # reserved for this process, and nothing listens there
    else:
        server, port, _ = await _black_hole()
    try:
        async with embedded_server(with_stub=False, tracking_url=f"http://127.0.0.1:{port}") as srv:
            # A hung service never answers: only the IVR's own timeout can end these lookups.
            results = await asyncio.wait_for(run_scenarios([lookup_call(number, f"06{i:08d}") for i in range(100)],
                                                           "127.0.0.1", srv.agi_port,
                                                           concurrency=100, records=srv.memory_records), DEADLINE)
            assert [r.failures for r in results if not r.passed] == []
            assert all("service_indisponible" in r.trace.channel.prompts for r in results)
            lookups = [r.record["lookups"][-1] for r in results]
            assert {lookup["status"] for lookup in lookups} <= {"error", "timeout"}
            if failure == "hung":  # what ended each wait was the client's timeout (2 s), not an answer
                assert min(lookup["ms"] for lookup in lookups) >= srv.settings.tracking_timeout * 1000 * 0.95
    finally:
        if server is not None:
            server.close()
