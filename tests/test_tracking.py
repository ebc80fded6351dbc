"""Tracking stub (HTTP API, dataset, faults) and the resilient client; calls under a dead service."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date

import aiohttp
import pytest

from ivr.ants3400.file_numbers import make_file_number
from ivr.ants3400.files import FileLookup
from ivr.ants3400.statuses import STATUSES
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.tracking.client import CircuitBreaker, TrackingClient, TrackingUnavailable
from ivr.tracking.dataset import FAULT_NUMBERS, generate
from ivr.tracking.stub import StubConfig, start_stub
from tests.clocks import OPEN


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
        started = time.monotonic()
        with pytest.raises(TrackingUnavailable, match="circuit open"):
            await client.lookup(title_type="cni", file_number=make_file_number(1))
        assert time.monotonic() - started < 0.05
    finally:
        await client.close()


async def test_client_timeout_on_a_slow_service(stub):
    slow = next(n for n, f in FAULT_NUMBERS.items() if f == "slow")
    client = TrackingClient(stub, timeout=0.3)
    try:
        started = time.monotonic()
        with pytest.raises(TrackingUnavailable, match="no answer within 0.3 s"):
            await client.lookup(title_type="cni", file_number=slow)
        assert time.monotonic() - started < 0.6
    finally:
        await client.close()


def test_breaker_half_opens_after_cooldown():
    b = CircuitBreaker(threshold=2, cooldown=0.0)
    b.failure(), b.failure()
    assert b.state == "half_open" and b.allow()
    b.success()
    assert b.state == "closed"


def lookup_call(number: str) -> Scenario:
    steps = [{"kind": "press", "digits": d} for d in ("1", "1", f"{number}#", "1")]
    return Scenario.model_validate({"name": "dead", "call": {"at": OPEN}, "steps": steps,
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
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens there once closed
    else:
        server, port, _ = await _black_hole()
    try:
        async with embedded_server(with_stub=False, tracking_url=f"http://127.0.0.1:{port}") as srv:
            started = time.monotonic()
            results = await run_scenarios([lookup_call(number)] * 100, "127.0.0.1", srv.agi_port,
                                          concurrency=100, records=srv.memory_records)
            elapsed = time.monotonic() - started
            assert [r.failures for r in results if not r.passed] == []
            assert all("service_indisponible" in r.trace.channel.prompts for r in results)
            # Nobody waits longer than the client timeout (2 s) plus one prompt.
            slowest = max(r.trace.seconds for r in results)
            assert slowest < srv.settings.tracking_timeout + 1.5, slowest
            assert elapsed < srv.settings.tracking_timeout + 3
    finally:
        if server is not None:
            server.close()
