"""An administrator's day in a real browser (issue 31, item 6): headless Chromium, two IVR nodes on one
PostgreSQL. An editor signs in, uploads a draft with a mistake (the error names the file and line),
fixes it, previews it against 500 recorded calls (the transfers that move are shown), cannot publish;
a publisher publishes it, both nodes serve it to new calls, rolls back, both nodes serve the earlier
version; the audit trail shows every step. Screenshots in var/screenshots/ (copies in docs/console/)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ivr.server.embedded import embedded_server
from ivr.server.publishing import publish
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import load_scenarios
from ivr.waiting import until
from tests.browser import Chromium, chromium_path
from tests.notice_switch import notices_of
from tests.pg import PostgresServer, postgres_bin
from tests.test_signin import PASSWORD, with_users
from tests.test_versions import shipped

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"
SCREENSHOTS = ROOT / "var" / "screenshots"
FLOW = (ROOT / "ivr" / "flows" / "ants-3400.yaml").read_text(encoding="utf-8")
#: The edit: callers without their file number go to the in-house team (the queue the rules would pick
#: for them is the contractor's).
TO_INHOUSE = FLOW.replace("  sans_numero:\n    kind: route\n    queue: auto", "  sans_numero:\n    kind: route\n    queue: inhouse", 1)
#: The same edit with a mistake: a step sent to a node that does not exist.
MISTAKE = TO_INHOUSE.replace("    next: annonce", "    next: anonce", 1)

pytestmark = [
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium (apt-get install chromium; scripts/setup does it)"),
    pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL (apt-get install postgresql; scripts/setup does it)"),
]


def _fill(selector: str, value: str) -> str:
    """A script that puts ``value`` in the field ``selector``."""
    return f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}"


def _click(selector: str) -> str:
    return f"document.querySelector({json.dumps(selector)}).click()"


async def _sign_in(tab, base: str, name: str, then: str) -> None:
    await tab.open(f"{base}/login?next={then}", "document.querySelector('form.login') !== null")
    await tab.value(_fill("input[name=name]", name))
    await tab.value(_fill("input[name=password]", PASSWORD))
    await tab.submit(_click("form.login button"), f"location.pathname === {json.dumps(then)}")


async def _no_file_number_goes_to(srv) -> str:
    [result] = await run_scenarios(load_scenarios([SCENARIOS / "02-no-file-number.yaml"]), "127.0.0.1", srv.agi_port,
                                   records=srv.memory_records)
    return result.outcome


async def test_an_administrators_day_from_a_draft_to_a_rollback_on_two_nodes(tmp_path):
    server = PostgresServer()
    server.start()
    try:
        url = server.new_database()
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "a.jsonl", version_poll=0.2) as one, \
                embedded_server(node_name="ivr-2", store=url, records=tmp_path / "b.jsonl", version_poll=0.2) as two:
            await _prepare(one, two)
            async with Chromium() as chromium, chromium.tab() as tab:
                await _as_editor(tab, one.admin_url, tmp_path, one)
                await _as_publisher(tab, one, two)
                await tab.open(f"{one.admin_url}/audit", "document.querySelector('table') !== null")
                await tab.screenshot(SCREENSHOTS / "audit.png")
                trail = await tab.text()
                # No script error nor Content-Security-Policy violation (the 422 of the draft with its mistake
                # and the 403 of the editor's publish are the answers the steps expect).
                assert [e for e in tab.errors if "the server responded with a status of" not in e] == [], tab.errors
        for step in ("connexion", "aperçu", "action refusée (rôle)", "publication", "retour arrière",
                     "version en service sur le nœud", "déconnexion"):
            assert step in trail, step
    finally:
        server.cleanup()


async def _prepare(one, two) -> None:
    """The shipped files published as version 1; 500 recorded calls in the shared store; two users."""
    first = await publish(one.store, await one.draft_checker()(shipped()), author="installation",
                          comment="version livrée", origin="test")
    assert first.ok, first.errors
    await until(lambda: all(srv.line_state.published == 1 for srv in (one, two)), "both nodes on version 1")
    results = await run_scenarios(load_scenarios([SCENARIOS]), "127.0.0.1", one.agi_port, records=one.memory_records,
                                  notices=notices_of(one))
    assert all(r.passed for r in results)
    rows = [(f"rec-{i}", "ivr-1", r.record["ended_at"], {**r.record, "call_id": f"rec-{i}"})
            for i, r in ((i, results[i % len(results)]) for i in range(500))]
    assert await one.store.insert_records(rows) == 500
    await with_users(one, eddie="editor", paula="publisher")


async def _as_editor(tab, base: str, tmp_path: Path, one) -> None:
    await _sign_in(tab, base, "eddie", "/drafts")
    # A draft with a mistake, uploaded: the error names the file and its line.
    broken = tmp_path / "ants-3400.yaml"
    broken.write_text(MISTAKE, encoding="utf-8")
    await tab.choose_file("input[name=upload]", broken)
    await tab.submit(_click("form.upload button"), "document.querySelector('ul.errors') !== null")
    line = MISTAKE.splitlines().index("    next: anonce") + 1
    assert f"flows/ants-3400.yaml:{line}:" in await tab.text()
    await tab.screenshot(SCREENSHOTS / "draft-errors.png")
    # Fixed in the text area, then previewed against the last 500 recorded calls.
    await tab.value(_fill("form.draft textarea", TO_INHOUSE))
    await tab.value(_fill("input[name=calls]", "500"))
    started = time.monotonic()
    await tab.submit(_click("button[value=preview]"), "document.body.innerText.includes('Aperçu sur')")
    shown = await tab.text()
    assert "Aperçu sur 500 appels enregistrés" in shown, shown[-2000:]
    assert "contractor / no_file_number" in shown and "inhouse / no_file_number" in shown
    assert "routed:contractor (no_file_number)" in shown and "routed:inhouse (no_file_number)" in shown
    print(f"preview of 500 calls in the console: {time.monotonic() - started:.2f} s (request and page included)")
    await tab.screenshot(SCREENSHOTS / "preview.png")
    # An editor sees no publish button; a publish sent anyway is refused.
    assert "La publication demande le rôle publisher" in shown
    await tab.submit("const f = document.querySelector('form.draft'); const a = document.createElement('input');"
                     "a.type = 'hidden'; a.name = 'action'; a.value = 'publish'; f.appendChild(a); f.submit()",
                     "document.body.innerText.includes('Action non permise')")
    assert await one.store.live_version() is not None and (await one.store.live_version()).number == 1
    await tab.submit("document.querySelector('form.logout').submit()", "location.pathname === '/login'")


async def _as_publisher(tab, one, two) -> None:
    await _sign_in(tab, one.admin_url, "paula", "/drafts")
    await tab.value(_fill("form.draft textarea", TO_INHOUSE))
    await tab.value(_fill("input[name=comment]", "sans numéro de dossier : équipe interne"))
    started = time.monotonic()
    await tab.submit(_click("button[value=publish]"), "location.pathname === '/versions/2'")
    await until(lambda: all(srv.line_state.published == 2 for srv in (one, two)), "both nodes on version 2")
    print(f"publish to both nodes: {time.monotonic() - started:.2f} s (IVR_VERSION_POLL 0.2 s)")
    assert "node sans_numero" in await tab.text()
    for srv in (one, two):
        assert await _no_file_number_goes_to(srv) == "routed:inhouse"
    await tab.open(f"{one.admin_url}/versions", "document.querySelector('table') !== null")
    await tab.screenshot(SCREENSHOTS / "versions.png")
    # Version 1 back, from its button.
    await tab.submit(_click("form[action='/versions/1/rollback'] button"), "location.pathname === '/versions'")
    await until(lambda: all(srv.line_state.published == 3 for srv in (one, two)), "both nodes on the rollback")
    assert "version 1" in await tab.text()
    for srv in (one, two):
        assert await _no_file_number_goes_to(srv) == "routed:contractor"
