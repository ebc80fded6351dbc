"""Operations: KPIs as call centres define them, the per-node funnel, the console in a real browser,
the Prometheus alerts and Grafana dashboard against a live server, a readable flow drawing, and a
command line that answers mistakes in one line."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from ivr.admin.kpis import Kpis
from ivr.calls.record import CallRecord
from ivr.interfaces import Answer
from ivr.lab.ports import free_port
from ivr.server.embedded import embedded_server
from ivr.sim.ami import SimAmi
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.waiting import DEADLINE, until
from tests.browser import Chromium, chromium_path
from tests.clocks import FROZEN_CLOCKS, OPEN
from tests.doubles import ScriptedListenerDouble, said
from tests.holds import live_nodes, lookups_held
from tests.notice_switch import notices_of

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "monitoring"
SCREENSHOTS = ROOT / "var" / "screenshots"
PARIS = "Europe/Paris"


def record(outcome: str, *, ended: datetime, questions: int = 1, path=("horaires", "accueil", "titre"),
           recognition=(), queue: str = "", reason: str = "", hangup_node: str = "") -> CallRecord:
    return CallRecord(call_id=f"c{ended.timestamp():.0f}{outcome}{len(path)}", uniqueid="1", request="ants-3400",
                      channel="PJSIP/x", caller="06******78", started_at=ended.isoformat(),
                      ended_at=ended.isoformat(), outcome=outcome, questions=questions, path=list(path),
                      recognition=list(recognition), queue=queue, reason=reason, hangup_node=hangup_node,
                      duration_ms=30_000)


NOW = datetime.fromisoformat("2026-11-24T10:30:00+01:00")


def kpis_at(now: datetime = NOW, **kw) -> Kpis:
    return Kpis(timezone_name=PARIS, clock=lambda: now.timestamp(), **kw)


# -- KPI definitions ---------------------------------------------------------------------------


def test_containment_divides_by_the_calls_offered_not_by_every_call():
    kpis = kpis_at()
    at = NOW - timedelta(minutes=5)
    for _ in range(3):
        kpis.write(record("self_served", ended=at))
    for _ in range(2):  # closed-hours calls were never offered to the IVR's service
        kpis.write(record("closed_hours", ended=at, questions=0, path=("horaires", "fermeture")))
    today = kpis.window("today").summary()
    assert today["calls"] == 5 and today["offered"] == 3
    assert today["containment"] == 1.0  # the example: 3 self-served + 2 closed read 60 % before
    # A hang-up during the welcome is a short abandon: counted, not offered.
    kpis.write(record("caller_hangup", ended=at, questions=0, path=("horaires", "accueil"), hangup_node="accueil"))
    # A hang-up after a question is an abandon of an offered call.
    kpis.write(record("caller_hangup", ended=at, questions=1, hangup_node="numero"))
    kpis.write(record("routed:contractor", ended=at, queue="contractor", reason="no_file_number",
                      path=("horaires", "titre", "sans_numero")))
    kpis.write(record("error_routed", ended=at, queue="contractor", reason="ivr_error"))
    today = kpis.window("today").summary()
    assert (today["calls"], today["closed"], today["short_abandons"], today["offered"]) == (9, 2, 1, 6)
    assert today["containment"] == 0.5 and today["abandonment"] == round(1 / 6, 4)
    assert today["transfer_rate"] == round(2 / 6, 4) and today["error_rate"] == round(1 / 6, 4)
    assert today["abandon_points"] == {"accueil": 1, "numero": 1}
    assert {(t["queue"], t["reason"]) for t in today["transfers"]} == {("contractor", "no_file_number"),
                                                                        ("contractor", "ivr_error")}
    assert today["funnel"]["sans_numero"]["transfers"] == 1 and today["funnel"]["numero"]["hangups"] == 1


def test_recognition_success_counts_speech_attempts_only_and_is_empty_without_any():
    kpis = kpis_at()
    at = NOW - timedelta(minutes=1)
    kpis.write(record("self_served", ended=at, recognition=[{"node": "titre", "mode": "dtmf", "attempts": 1}]))
    assert kpis.window("today").summary()["recognition_success"] is None  # not 0.0: nothing was said
    kpis.write(record("self_served", ended=at, recognition=[
        {"node": "titre", "mode": "speech", "attempts": 2, "nomatch": 1, "speech": 2, "speech_ok": 1},
        {"node": "question_dossier", "mode": "speech", "attempts": 1, "speech": 1, "speech_ok": 1},
        {"node": "numero", "mode": "dtmf", "attempts": 2, "noinput": 1, "speech": 0}]))
    today = kpis.window("today").summary()
    assert today["speech_turns"] == 3 and today["recognition_success"] == round(2 / 3, 4)
    assert today["answers"] == {"speech": 2, "keypad": 2} and today["keypad_share"] == 0.5
    assert today["funnel"]["titre"]["nomatch"] == 1 and today["funnel"]["numero"]["noinput"] == 1


def test_windows_follow_the_line_s_day_and_the_last_hour_and_keep_seven_days():
    kpis = kpis_at()
    paris = NOW.tzinfo
    kpis.write(record("self_served", ended=NOW - timedelta(minutes=20)))           # last hour, today
    kpis.write(record("self_served", ended=NOW - timedelta(hours=3)))              # today, not last hour
    # 00:30 in Paris is 23:30 UTC the day before: today for the line, although UTC says yesterday.
    kpis.write(record("self_served", ended=datetime(2026, 11, 23, 23, 30, tzinfo=timezone.utc)))
    kpis.write(record("self_served", ended=datetime(2026, 11, 23, 23, 50, tzinfo=paris)))  # yesterday
    kpis.write(record("self_served", ended=NOW - timedelta(days=6, hours=23)))    # within 7 days
    assert not kpis.write(record("self_served", ended=NOW - timedelta(days=8)))   # too old: not kept
    counts = {name: kpis.window(name).calls for name in ("last_hour", "today", "last_7_days")}
    assert counts == {"last_hour": 1, "today": 3, "last_7_days": 5}
    summary = kpis.summary()
    assert set(summary["windows"]) == {"today", "last_hour", "last_7_days"} and summary["timezone"] == PARIS


def test_the_error_banner_needs_several_errors_and_a_real_share():
    kpis = kpis_at()
    at = NOW - timedelta(minutes=10)
    for _ in range(40):
        kpis.write(record("self_served", ended=at))
    kpis.write(record("error_routed", ended=at))
    assert not kpis.summary()["error_banner"]  # one error in 41 calls
    for _ in range(3):
        kpis.write(record("error_routed", ended=at))
    assert kpis.summary()["error_banner"]  # 4 errors, 9 % of the offered calls


def test_figures_are_rebuilt_from_the_records_file_and_memory_stays_bounded(tmp_path):
    path = tmp_path / "calls.jsonl"
    old_style = {"call_id": "old", "uniqueid": "1", "request": "ants-3400", "channel": "x", "caller": "06******78",
                 "started_at": (NOW - timedelta(minutes=3)).isoformat(), "outcome": "caller_hangup",
                 "recognition": [{"node": "titre", "mode": "dtmf"}], "hangup_node": "numero"}  # before `questions`
    lines = [record("self_served", ended=NOW - timedelta(minutes=2)).to_json(), '{"broken', json.dumps(old_style),
             record("closed_hours", ended=NOW - timedelta(days=9)).to_json()]
    path.write_text("\n".join(lines) + "\n")
    kpis = kpis_at(keep_records=1)
    assert kpis.load_jsonl(path) == 2
    today = kpis.window("today").summary()
    assert today["calls"] == 2 and today["abandoned"] == 1 and today["short_abandons"] == 0
    assert [r["call_id"] for r in kpis.recent] == ["old"]  # only the last one kept in full


# -- the bundled scenarios, end to end ----------------------------------------------------------


async def http_get(port: int, path: str, accept: str = "application/json", token: str = "") -> tuple[int, str]:
    headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
        return resp.status, await resp.text()


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", text, re.M)
    return float(found.group(1)) if found else None


async def test_the_bundled_scenarios_show_the_figures_the_definitions_give():
    scenarios = load_scenarios([ROOT / "ivr" / "sim" / "scenarios"])
    async with embedded_server() as srv:
        results = await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, records=srv.memory_records,
                                      notices=notices_of(srv))
        outcomes = sorted(r.record["outcome"] for r in results)
        # The ten scenarios: four self-served (one asks for repeats, one for time, one for slower
        # speech); closed on a Sunday, closed by a notice; hung up during the welcome; three handed to an agent.
        assert outcomes == ["caller_hangup", "closed_hours", "closed_hours", "routed:contractor", "routed:contractor",
                            "routed:inhouse", "self_served", "self_served", "self_served", "self_served"]
        status, body = await http_get(srv.admin.bound_port, "/kpis")
        week = json.loads(body)["windows"]["last_7_days"]
        # README "Indicators": offered = 10 calls − 2 closed − 1 short abandon = 7.
        assert (week["calls"], week["closed"], week["short_abandons"], week["offered"]) == (10, 2, 1, 7)
        assert week["containment"] == pytest.approx(4 / 7, abs=1e-4)
        assert week["transfer_rate"] == pytest.approx(3 / 7, abs=1e-4) and week["abandonment"] == 0.0
        assert week["recognition_success"] is None and week["keypad_share"] == 1.0
        assert week["funnel"]["horaires"]["visits"] == 10 and week["funnel"]["accueil"]["hangups"] == 1
        _, text = await http_get(srv.admin.bound_port, "/metrics")
        assert metric(text, "ivr_calls_offered_total") == 7.0
        assert metric(text, "ivr_node_hangups_total", flow="ants-3400", node="accueil") == 1.0
        assert metric(text, "ivr_node_transfers_total", flow="ants-3400", node="sans_numero") == 1.0
        assert metric(text, "ivr_node_visits_total", flow="ants-3400", node="horaires") == 10.0


async def test_recognition_success_from_a_spoken_call_per_attempt():
    script = ScriptedListenerDouble([said("pizza"), said("carte_grise"), said("no")])
    call = Scenario.model_validate({"name": "voix", "call": {"at": OPEN}, "steps": [], "expect": {}})
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.record["outcome"] == "routed:contractor" and r.record["reason"] == "no_file_number"
        _, body = await http_get(srv.admin.bound_port, "/kpis")
        week = json.loads(body)["windows"]["last_7_days"]
        assert week["speech_turns"] == 3 and week["recognition_success"] == round(2 / 3, 4)
        _, text = await http_get(srv.admin.bound_port, "/metrics")
        assert metric(text, "ivr_speech_turns_total") == 3.0 and metric(text, "ivr_speech_understood_total") == 2.0
        assert metric(text, "ivr_nomatch_total", node="titre") == 1.0


# -- the console in a real browser --------------------------------------------------------------

needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="no Chromium (scripts/setup installs it)")
#: The page's script refilled its live table at least once (console.js sets this status line).
REFRESHED = "document.querySelector('.live-status')?.textContent.startsWith('actualisé à')"


@needs_chromium
async def test_the_console_pages_render_without_script_errors_and_refresh_themselves(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(ROOT / "ivr" / "flows" / "ants-3400.yaml", flows / "ants-3400.yaml")
    slow = Scenario.model_validate({"name": "attente", "call": {"at": OPEN, "caller": "0612345678"},
                                    "steps": [{"kind": "press", "digits": d} for d in ("1", "1", "9900000241#", "1")]})
    # The live call stays in « recherche » until the pages are read: its lookup gets no answer and the
    # « un instant » it then hears is not over until the test says so.
    in_lookup = PromptGate("un_instant")
    async with embedded_server(flows_dir=flows, tracking_timeout=60.0) as srv:
        results = await run_scenarios(load_scenarios([ROOT / "ivr" / "sim" / "scenarios"]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records, notices=notices_of(srv))
        for _ in range(4):  # the IVR failing: the error banner must show
            srv.kpis.write(record("error_routed", ended=datetime.now(timezone.utc), queue="contractor",
                                  reason="ivr_error"))
        # An administrator's broken edit: rejected, the running flow stays, the console says so.
        (flows / "ants-3400.yaml").write_text((flows / "ants-3400.yaml").read_text().replace("kind: say", "kind: parle"))
        assert not (await srv.reload_line()).ok
        call_id = next(r.record["call_id"] for r in results if r.record["outcome"] == "self_served")
        async with lookups_held(srv.settings.tracking_url):
            live = asyncio.create_task(run_scenarios([slow], "127.0.0.1", srv.agi_port, gate=in_lookup))
            await until(lambda: in_lookup.held == 1, "the live call held in its lookup's « un instant »",
                        seen=lambda: live_nodes(srv))
            assert live_nodes(srv) == ["recherche"]
            seen = await _read_console_pages(f"http://127.0.0.1:{srv.admin.bound_port}", call_id)
            in_lookup.release()
            await live
    assert "Taux d'erreur élevé" in seen["overview"]["text"]
    assert "refusés" in seen["flows"]["text"] and "parle" in seen["flows"]["text"]
    # The live table was refilled by the page's script, and shows the masked caller and file number.
    assert seen["overview"]["live"].startswith("actualisé à") and seen["calls"]["live"].startswith("actualisé à")
    assert "06******78" in seen["overview"]["text"] and "recherche" in seen["overview"]["text"]
    assert "0612345678" not in seen["overview"]["text"] and "9900000241" not in seen["overview"]["text"]
    assert "Taux de résolution" in seen["overview"]["text"] and "Entonnoir par étape" in seen["kpis"]["text"]
    call_text = seen["call"]["text"]
    assert "servi par le SVI" in call_text
    # The timeline in the order the call went: a question's answer before the next node.
    order = ["étape titre", "réponse à titre au clavier", "étape question_dossier", "étape recherche",
             "recherche (tracking) : found", "étape lecture_statut", "étape merci_note"]
    assert [call_text.index(event) for event in order] == sorted(call_text.index(event) for event in order)
    assert seen["flow"]["graph"] > 800  # the drawing loaded (the Content-Security-Policy allows it)


async def _read_console_pages(base: str, call_id: str) -> dict[str, dict]:
    """Each console page in a real browser: its text and live-table status, no script error allowed."""
    pages = {"overview": "/", "calls": "/calls", "call": f"/calls/{call_id}", "kpis": "/kpis",
             "flows": "/flows", "flow": "/flows/ants-3400"}
    # A page with a live table is read once its script has refilled it; a drawing once it loaded.
    ready = {"overview": REFRESHED, "calls": REFRESHED, "flow": "document.querySelector('figure img')?.complete"}
    seen = {}
    async with Chromium() as browser:
        for name, path in pages.items():
            visit, values = await browser.visit(base + path, ready=ready.get(name, "true"),
                                                screenshot=SCREENSHOTS / f"{name}.png",
                                                evaluate={"text": "document.body.innerText",
                                                          "live": "document.querySelector('.live-status')"
                                                                  "?.textContent || ''",
                                                          "graph": "document.querySelector('figure img')"
                                                                   "?.naturalWidth || 0"})
            assert visit.errors == [], (name, visit.errors)
            assert visit.status == 200, name
            seen[name] = values
    return seen


async def test_pages_answer_json_to_machines_and_unknown_calls_are_404():
    async with embedded_server() as srv:
        port = srv.admin.bound_port
        status, body = await http_get(port, "/calls/nosuchcall")
        assert status == 404 and "kept" in body
        status, body = await http_get(port, "/calls/nosuchcall", accept="text/html")
        assert status == 404 and "Introuvable" in body
        status, body = await http_get(port, "/queues")
        assert status == 200 and json.loads(body)["ami"] == "not configured"
        status, body = await http_get(port, "/static/../kpis.py")
        assert status == 404
        status, body = await http_get(port, "/static/console.js")
        assert status == 200 and "textContent" in body
        # The console's reload button (a form) comes back to the flows page, which shows the outcome.
        async with aiohttp.ClientSession() as http, http.post(
                f"http://127.0.0.1:{port}/flows/reload", headers={"Accept": "text/html"}, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/flows"


# -- Prometheus and Grafana --------------------------------------------------------------------

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="no promtool (apt-get install prometheus)")


@needs_promtool
def test_the_alert_rules_are_valid_and_fire_when_they_should():
    rules = MONITORING / "prometheus"
    for command in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"],
                    ["check", "config", "--syntax-only", "prometheus.yml"]):
        done = subprocess.run(["promtool", *command], cwd=rules, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def dashboard_queries() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana" / "dashboards" / "ivr-3400.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path):
    # Grafana's range variables stand for a duration; promtool checks each query as a recording rule.
    rules = [{"record": f"dashboard:query{i}", "expr": expr.replace("$__rate_interval", "1m").replace("$__range", "1h")}
             for i, expr in enumerate(dashboard_queries())]
    assert len(rules) >= 20
    (tmp_path / "dashboard.yml").write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(["promtool", "check", "rules", "dashboard.yml"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def referenced_metrics() -> set[str]:
    alerts = (MONITORING / "prometheus" / "alerts.yml").read_text()
    exprs = [line for line in alerts.splitlines() if not line.lstrip().startswith("#")]
    names = set(re.findall(r"\b(ivr_[a-z_]+)", "\n".join(exprs) + "\n".join(dashboard_queries())))
    return {re.sub(r"_(bucket|count|sum)$", "", n) if n.endswith(("_bucket",)) else n for n in names}


async def test_every_metric_the_alerts_and_dashboard_query_is_served_by_a_live_server():
    sim = SimAmi(auth_delay=0.2)
    await sim.start()
    try:
        async with embedded_server(ami_host="127.0.0.1", ami_port=sim.bound_port, ami_user="ivr",
                                   ami_secret=SecretStr("ivrsecret"), admin_token=SecretStr("t0ken")) as srv:
            assert await srv.ami.wait_connected(DEADLINE)
            await srv.ami.refresh_queues()
            await run_scenarios(load_scenarios([ROOT / "ivr" / "sim" / "scenarios"]), "127.0.0.1", srv.agi_port,
                                notices=notices_of(srv))
            # Spoken answers, one not understood and one silence: every funnel series has samples.
            spoken = ScriptedListenerDouble([said("pizza"), Answer("none"), said("carte_grise"), said("no")])
            srv.engine.listener = spoken
            await run_scenarios([Scenario.model_validate({"name": "v", "call": {"at": OPEN}, "steps": []})],
                                "127.0.0.1", srv.agi_port)
            status, text = await http_get(srv.admin.bound_port, "/metrics", token="t0ken")
    finally:
        await sim.stop()
    assert status == 200
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    wanted = referenced_metrics()
    assert len(wanted) >= 20
    missing = {name for name in wanted if name not in served and f"{name}_bucket" not in served}
    assert missing == set(), f"queried but not served: {sorted(missing)}"


def test_the_monitoring_profile_of_the_compose_file_mounts_what_prometheus_and_grafana_read():
    from ruamel.yaml import YAML

    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text())
    prom, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]
    assert prom["profiles"] == grafana["profiles"] == ["monitoring"]
    config = YAML(typ="safe").load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    # The nodes come from IVR_SCRAPE_TARGETS through a file the entrypoint writes (the docker suite runs it).
    assert config["scrape_configs"][0]["file_sd_configs"][0]["files"] == ["/prometheus/ivr_targets.json"]
    assert "/prometheus/ivr_targets.json" in " ".join(prom["entrypoint"])
    assert prom["environment"]["IVR_SCRAPE_TARGETS"] == "${IVR_SCRAPE_TARGETS:-ivr:8080}"
    assert "8080" in compose["services"]["ivr"]["expose"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prom["volumes"] if v.startswith("./")}
    assert mounts["/etc/prometheus/alerts.yml"] == "./monitoring/prometheus/alerts.yml"
    assert config["rule_files"] == ["alerts.yml"]  # next to prometheus.yml in /etc/prometheus
    assert "/prometheus/ivr_token" in " ".join(prom["entrypoint"])
    assert config["scrape_configs"][0]["authorization"]["credentials_file"] == "/prometheus/ivr_token"
    provider = YAML(typ="safe").load((MONITORING / "grafana" / "provisioning" / "dashboards" / "ivr-3400.yml").read_text())
    g_mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"] if v.startswith("./")}
    assert g_mounts[provider["providers"][0]["options"]["path"]] == "./monitoring/grafana/dashboards"


# -- the flow drawing --------------------------------------------------------------------------

def shipped_flow():
    from ivr.engine.model import FlowModel
    from ivr.yamlsrc import load_yaml, to_plain

    return FlowModel.model_validate(to_plain(load_yaml(ROOT / "ivr" / "flows" / "ants-3400.yaml")))


needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="no Graphviz (apt-get install graphviz)")


@needs_graphviz
def test_the_flow_drawing_has_no_collisions_full_texts_a_legend_and_a_white_page(tmp_path):
    from ivr.engine.graph import to_dot

    flow = shipped_flow()
    layout = json.loads(subprocess.run(["dot", "-Tjson"], input=to_dot(flow), capture_output=True, text=True,
                                       check=True).stdout)
    boxes = {}
    for obj in layout["objects"]:
        if "pos" in obj:
            x, y = map(float, obj["pos"].split(","))
            w, h = float(obj["width"]) * 36, float(obj["height"]) * 36  # inches to points, halved
            boxes[obj["name"]] = (x - w, y - h, x + w, y + h)

    def inside(px: float, py: float, box) -> bool:
        return box[0] <= px <= box[2] and box[1] <= py <= box[3]

    names = list(boxes)
    for i, a in enumerate(names):  # no two boxes overlap
        for b in names[i + 1:]:
            A, B = boxes[a], boxes[b]
            assert A[2] <= B[0] or B[2] <= A[0] or A[3] <= B[1] or B[3] <= A[1], (a, b)
    for edge in layout["edges"]:  # no edge label sits on a box
        if "lp" in edge:
            px, py = map(float, edge["lp"].split(","))
            assert not any(inside(px, py, box) for box in boxes.values()), edge.get("label")
    svg = subprocess.run([sys.executable, "-m", "ivr", "flows", "graph", str(ROOT / "ivr" / "flows" / "ants-3400.yaml"),
                          "--format", "svg"], capture_output=True, text=True, check=True).stdout
    assert 'fill="white"' in svg and "Légende" in svg
    words = html.unescape(re.sub(r"<[^>]+>|\s+", " ", svg)).split()
    for node in flow.nodes.values():  # every description whole (wrapped, never cut)
        assert all(word in words for word in node.description.split()), node.description
    png = tmp_path / "flow.png"
    subprocess.run(["dot", "-Tpng", "-o", str(png)], input=to_dot(flow), text=True, check=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(png, SCREENSHOTS / "flow-graph.png")


def test_without_graphviz_the_drawing_is_still_whole(monkeypatch):
    from ivr.server import drawings

    monkeypatch.setattr(drawings, "graphviz_available", lambda: False)
    flow = shipped_flow()
    svg = drawings.flow_svg(flow)
    assert svg.startswith("<svg") and 'fill="white"' in svg and "Légende" in svg
    assert "Numéro de dossier (10" in svg  # wrapped, not cut at 34 characters


# -- the command line --------------------------------------------------------------------------


def ivr(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivr", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("args, says", [
    (["simulate", "ivr/sim/scenarios", "--server", "localhost"], "expected HOST:PORT"),
    (["simulate", "ivr/sim/scenarios", "--server", "127.0.0.1:1"], "cannot connect to 127.0.0.1:1"),
    (["serve", "--ami", "nohost:x"], "port of 'nohost:x'"),
    (["serve", "--agi-port", "abc"], "'abc' is not a valid integer"),
    (["serve", "--admin-port", "70000"], "70000 is not in the range"),
    (["serve", "--node-name", "bad name"], "node_name: node name 'bad name'"),
    (["flows", "graph", "ivr/flows/ants-3400.yaml", "--prompts-dir", "/nonexistent"], "cannot read"),
    (["flows", "graph", "ivr/flows/ants-3400.yaml", "-o", "/nonexistent/x.svg"], "/nonexistent/x.svg"),
    (["flows", "graph", "ivr/flows/ants-3400.yaml", "--format", "png"], "unknown format"),
    (["tracking-stub", "--port", "99999"], "99999 is not in the range"),
    (["sip-call", "ivr/sim/scenarios", "--proxy", "a:b"], "port of 'a:b'"),
    (["sip-call", "ivr/sim/scenarios", "--proxy", "pbx:5060", "--admin", "ftp://x"], "expected an address"),
    (["bench", "load", "--calls", "many"], "'many' is not a valid integer"),
    (["nosuchcommand"], "No such command"),
])
def test_a_bad_argument_is_one_line_and_no_traceback(args, says):
    done = subprocess.run([sys.executable, "-m", "ivr", *args], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**os.environ, "IVR_SIP_PASSWORD": "x"})
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def commands() -> list[list[str]]:
    import typer.main

    from ivr.cli.main import app

    out = []

    def walk(cmd, path):
        out.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, path + [name])

    walk(typer.main.get_command(app), [])
    return out


def test_help_names_what_an_option_takes_never_an_internal_type():
    listed = commands()
    assert len(listed) > 20
    for path in listed:
        text = ivr(*path, "--help").stdout
        assert "Usage:" in text, path
        assert not re.search(r"<(bool|int|str|path|float|list\[[A-Za-z]+\])>", text), (path, text)
    assert "--ami" in (serve := ivr("serve", "--help").stdout) and "HOST:PORT" in serve


def test_serve_stops_with_a_clear_error_when_the_admin_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = ivr("serve", "--agi-port", "0", "--admin-port", str(port), "--records", str(tmp_path / "c.jsonl"),
                   timeout=120, env={"IVR_STORE": str(tmp_path / "s.sqlite"), "IVR_ACCEPTED_DIR": str(tmp_path / "a"),
                        "IVR_DYNAMIC_PROMPTS_DIR": str(tmp_path / "readbacks")})
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ivr serve: cannot start: the admin HTTP server cannot listen on 127.0.0.1:") and \
        "--admin-port -1" in last
    assert "Traceback" not in done.stderr


# -- real-time load --------------------------------------------------------------------------------


async def test_a_realtime_call_takes_as_long_as_its_prompts_and_the_turns_stay_the_ivr_s():
    from ivr.sim.peer import place_call

    [hangup] = load_scenarios([ROOT / "ivr" / "sim" / "scenarios" / "05-hangup.yaml"])  # leaves mid-welcome
    async with embedded_server() as srv:
        fast = await place_call(hangup, "127.0.0.1", srv.agi_port)
        real = await place_call(hangup, "127.0.0.1", srv.agi_port, realtime=True)
    # Half of « bienvenue » (4 s) is heard before the caller hangs up: about 2 s on the line, slept by the
    # simulated Asterisk in real time only.
    assert fast.slept == 0 and 1.8 <= real.slept < 4.0, (fast.slept, real.slept)
    assert real.seconds >= real.slept
    # The IVR's turns do not count that sleeping: turns and sleeps fit in the call's length.
    assert sum(real.turn_seconds) + real.slept <= real.seconds


needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None,
                                      reason="no Prometheus server (apt-get install prometheus)")


@needs_prometheus
async def test_a_real_prometheus_scrapes_the_server_evaluates_the_alerts_and_answers_every_dashboard_query(tmp_path):
    sim = SimAmi(auth_delay=0.2)
    await sim.start()
    prometheus = None
    try:
        # Speech asked for but no model: the one alert that must start firing (pending, for: 5m).
        async with embedded_server(ami_host="127.0.0.1", ami_port=sim.bound_port, ami_user="ivr",
                                   ami_secret=SecretStr("ivrsecret"), admin_token=SecretStr("t0ken"),
                                   speech=True) as srv:
            assert await srv.ami.wait_connected(DEADLINE)
            await srv.ami.refresh_queues()
            await run_scenarios(load_scenarios([ROOT / "ivr" / "sim" / "scenarios"]), "127.0.0.1", srv.agi_port,
                                notices=notices_of(srv))
            # The line's opening hours at a fixed instant (a Sunday night, closed): whatever the hour the
            # suite runs, "no calls during opening hours" stays quiet.
            srv.admin.status.clock = lambda: datetime.fromisoformat(FROZEN_CLOCKS["sunday-0300"][0])
            (tmp_path / "token").write_text("t0ken")
            shutil.copy(MONITORING / "prometheus" / "alerts.yml", tmp_path / "alerts.yml")
            config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                      "rule_files": ["alerts.yml"],
                      "scrape_configs": [{"job_name": "ivr", "authorization": {"credentials_file": str(tmp_path / "token")},
                                          "static_configs": [{"targets": [f"127.0.0.1:{srv.admin.bound_port}"]}]}]}
            (tmp_path / "prometheus.yml").write_text(json.dumps(config))
            port = free_port()
            prometheus = await asyncio.create_subprocess_exec(
                "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}", stdout=asyncio.subprocess.DEVNULL,
                stderr=open(tmp_path / "prometheus.log", "wb"))
            api = f"http://127.0.0.1:{port}/api/v1"
            async with aiohttp.ClientSession() as http:

                async def query(expr: str) -> dict:
                    async with http.get(f"{api}/query", params={"query": expr}) as resp:
                        return await resp.json()

                async def scraped_four_times() -> bool:  # a few scrapes and rule evaluations
                    try:
                        up = await query('count_over_time(up{job="ivr"}[1m])')
                    except aiohttp.ClientError:
                        return False  # not listening yet
                    return bool(up["status"] == "success" and up["data"]["result"]
                                and float(up["data"]["result"][0]["value"][1]) >= 4)

                await until(scraped_four_times, "Prometheus to scrape the IVR four times", interval=0.5,
                            seen=lambda: (tmp_path / "prometheus.log").read_text()[-2000:])
                assert (await query('up{job="ivr"}'))["data"]["result"][0]["value"][1] == "1"
                for expr in dashboard_queries():
                    answer = await query(expr.replace("$__rate_interval", "5s").replace("$__range", "1m"))
                    assert answer["status"] == "success", (expr, answer)
                queues = await query("max by (queue) (ivr_queue_agents_available)")
                assert {r["metric"]["queue"] for r in queues["data"]["result"]} == {"contractor", "inhouse"}
                groups: list[dict] = []

                async def missing_model_alert_evaluated() -> bool:
                    async with http.get(f"{api}/rules") as resp:
                        groups[:] = (await resp.json())["data"]["groups"]
                    states = {r["name"]: r["state"] for g in groups for r in g["rules"]}
                    return states.get("IvrSpeechModelMissing") in ("pending", "firing")

                await until(missing_model_alert_evaluated, "the missing-model alert evaluated on a scrape that has it",
                            interval=0.5, seen=lambda: groups)
    finally:
        if prometheus is not None and prometheus.returncode is None:
            prometheus.terminate()
            await prometheus.wait()
        await sim.stop()
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert len(rules) == 12 and all(r["health"] == "ok" for r in rules.values()), rules
    assert rules["IvrSpeechModelMissing"]["state"] in ("pending", "firing")
    assert {name for name, r in rules.items() if r["state"] != "inactive"} == {"IvrSpeechModelMissing"}


def test_pages_escape_whatever_a_record_holds():
    from ivr.admin import pages

    evil = "<script>alert(1)</script>"
    rec = json.loads(record("error_routed", ended=NOW, path=("horaires", evil)).to_json())
    rec.update(error=evil, reason=evil, slots={"title": evil})
    kpis = kpis_at()
    kpis.write(CallRecord(**rec))
    summary = kpis.summary()
    journey = {"state": evil, "queue": evil, "answered_in": evil, "agent": evil, "why": evil,
               "callback": {"id": evil, "queue": evil, "state": evil}}
    html_pages = [pages.call_page(rec, summary), pages.call_page({**rec, "journey": journey}, summary),
                  pages.kpis_page(summary, "today"),
                  pages.calls_page(live=[{"call_id": "x", "node": evil, "seconds": 1.0, "caller": "06******78",
                                          "slots": {"a": evil}}], recent=[rec], kpis=summary)]
    for page in html_pages:
        assert evil not in page and "&lt;script&gt;" in page
