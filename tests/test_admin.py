"""Admin HTTP: health, readiness, Prometheus metrics, live calls, flows and reload, KPIs, token."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from ivr.admin.app import AdminConfigError, AdminServer
from ivr.server.embedded import embedded_server
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.waiting import until
from tests.clocks import OPEN
from tests.holds import live_nodes, lookups_held
from tests.notice_switch import notices_of

ROOT = Path(__file__).resolve().parent.parent


def call(*digits: str, **expect) -> Scenario:
    return Scenario.model_validate({"name": "admin", "call": {"at": OPEN, "caller": "0612345678"},
                                    "steps": [{"kind": "press", "digits": d} for d in digits], "expect": expect})


async def get(srv, path: str, *, token: str | None = None, accept: str = "application/json"):
    headers = {"Accept": accept}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}{path}", headers=headers) as resp:
            body = await resp.text()
            return resp.status, body, resp.headers.get("Content-Type", "")


async def test_health_readiness_and_metrics_after_calls():
    async with embedded_server() as srv:
        status, body, _ = await get(srv, "/healthz")
        assert status == 200 and '"ok"' in body
        status, body, _ = await get(srv, "/readyz")
        assert status == 200
        assert "not configured" in body and '"tracking": "ok"' in body and "keypad" in body
        scenarios = load_scenarios([ROOT / "ivr" / "sim" / "scenarios"])
        await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, records=srv.memory_records, notices=notices_of(srv))
        status, text, ctype = await get(srv, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        assert 'ivr_calls_total{outcome="self_served"} 4.0' in text  # 01, 07 (repeats), 08 (a pause), 09 (slower)
        assert 'ivr_calls_total{outcome="caller_hangup"} 1.0' in text
        assert 'ivr_node_visits_total{flow="ants-3400",node="titre"}' in text
        assert "ivr_agi_command_seconds_count" in text and "ivr_calls_active 0.0" in text
        assert 'ivr_tracking_seconds_count{status="found"}' in text
        assert "ivr_tracking_errors_total 1.0" in text  # the 503 scenario
        status, body, _ = await get(srv, "/kpis")
        week = __import__("json").loads(body)["windows"]["last_7_days"]
        assert week["calls"] == len(scenarios)
        assert week["abandon_points"] == {"accueil": 1}
        assert {t["reason"] for t in week["transfers"]} >= {"no_file_number", "tracking_unavailable"}
        status, page, ctype = await get(srv, "/kpis", accept="text/html")
        assert ctype.startswith("text/html") and "Indicateurs" in page


async def test_readiness_reports_a_dead_tracking_service():
    async with embedded_server(with_stub=False, tracking_url="http://127.0.0.1:9") as srv:
        status, body, _ = await get(srv, "/readyz")
        assert status == 200 and "unavailable" in body  # calls still route: ready, with the reason shown


async def test_live_calls_show_the_node_and_masked_slots():
    steps = ("1", "1", "9900000241#", "1")
    # The call waits in its lookup (no answer), held in the « un instant » it hears meanwhile.
    in_lookup = PromptGate("un_instant")
    async with embedded_server() as srv, lookups_held(srv.settings.tracking_url):
        running = asyncio.create_task(run_scenarios([call(*steps)], "127.0.0.1", srv.agi_port, gate=in_lookup))
        await until(lambda: in_lookup.held == 1, "the call in its lookup", seen=lambda: live_nodes(srv))
        status, body, _ = await get(srv, "/calls")
        data = __import__("json").loads(body)
        assert data["active"] == 1
        live = data["calls"][0]
        assert live["node"] == "recherche" and live["caller"] == "06******78"
        assert live["slots"]["file_number"] == "********41" and "9900000241" not in body
        in_lookup.release()
        await running


async def test_flows_graph_and_reload_with_errors(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "ivr" / "flows" / "ants-3400.yaml", flows / "ants-3400.yaml")
    async with embedded_server(flows_dir=flows) as srv:
        status, body, _ = await get(srv, "/flows")
        assert status == 200 and '"nodes": 23' in body
        status, svg, ctype = await get(srv, "/flows/ants-3400/graph?format=svg")
        assert status == 200 and ctype.startswith("image/svg+xml") and "<svg" in svg
        version = srv.flows.versions["ants-3400"]
        (flows / "ants-3400.yaml").write_text((flows / "ants-3400.yaml").read_text().replace("kind: say", "kind: parle"))
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{srv.admin.bound_port}/flows/reload") as resp:
                assert resp.status == 422
                report = await resp.json()
        assert any("unknown node kind 'parle'" in e and "ants-3400.yaml:" in e for e in report["errors"])
        assert srv.flows.versions["ants-3400"] == version
        status, page, _ = await get(srv, "/flows", accept="text/html")
        assert "parle" in page  # the administrator sees the error


async def test_token_protects_everything_but_healthz():
    async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
        assert (await get(srv, "/healthz"))[0] == 200
        assert (await get(srv, "/kpis"))[0] == 401
        assert (await get(srv, "/metrics", token="wrong"))[0] == 401
        assert (await get(srv, "/kpis", token="t0ken"))[0] == 200


def test_admin_refuses_to_listen_beyond_loopback_without_a_token():
    with pytest.raises(AdminConfigError, match="IVR_ADMIN_TOKEN"):
        AdminServer(object(), "0.0.0.0", 8080, token="")
    AdminServer(object(), "127.0.0.1", 8080, token="")
    AdminServer(object(), "0.0.0.0", 8080, token="secret")


async def test_kpis_survive_a_restart(tmp_path):
    records = tmp_path / "calls.jsonl"
    async with embedded_server(records=records) as srv:
        await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", srv.agi_port)
    with records.open("a") as f:
        f.write('{"broken line\n')
    async with embedded_server(records=records) as srv:
        status, body, _ = await get(srv, "/kpis")
        week = __import__("json").loads(body)["windows"]["last_7_days"]
        assert week["calls"] == 1 and week["outcomes"] == {"routed:contractor": 1}
