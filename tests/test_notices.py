"""Closure notices: switched on from the CLI, the console or the API, heard by every caller after the
welcome within seconds, switched off as quickly; who did what, kept."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from ivr.cli.main import app
from ivr.notices import Notice, NoticeError, checked_text, live_notice, parse_when
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import load_scenarios
from ivr.store.sqlite import SqliteStore
from ivr.waiting import until
from tests.clocks import OPEN

ROOT = Path(__file__).resolve().parent.parent
SELF_SERVED = ROOT / "ivr/sim/scenarios/01-self-served-keypad.yaml"
AT = datetime.fromisoformat(OPEN)
TEXT = "Suite à un incident technique, le suivi des dossiers est indisponible jusqu'à midi."


def notice(i: int, start: datetime, end: datetime | None = None, *, ended: datetime | None = None) -> Notice:
    return Notice(i, f"annonce {i}", start, end, False, "claire", start, "claire" if ended else "", ended)


def test_the_live_notice_is_the_last_started_of_those_in_force():
    t = AT
    first, second = notice(1, t - timedelta(hours=2)), notice(2, t - timedelta(hours=1), t + timedelta(hours=1))
    assert live_notice([first, second], t) == second
    assert live_notice([first, second], t + timedelta(hours=1)) == first  # the second has ended
    assert live_notice([notice(3, t + timedelta(minutes=5))], t) is None  # not started yet
    assert live_notice([notice(4, t - timedelta(hours=1), ended=t - timedelta(minutes=1))], t) is None


def test_what_an_administrator_types_is_checked_and_read_as_they_mean_it():
    now = datetime(2026, 12, 4, 9, 0, tzinfo=timezone.utc)  # 10:00 in Paris
    assert parse_when("now", now) == now
    assert parse_when("+30m", now) == now + timedelta(minutes=30)
    assert parse_when("14:30", now).astimezone(timezone.utc).hour == 13  # 14:30 in Paris
    assert parse_when("2026-12-24T12:00", now).utcoffset() == timedelta(hours=1)
    with pytest.raises(NoticeError, match="is not a moment"):
        parse_when("demain", now)
    with pytest.raises(NoticeError, match="at most 400"):
        checked_text("a" * 401)
    with pytest.raises(NoticeError, match="not text"):
        checked_text("fermé\x07")
    assert checked_text("  Fermé   ce  soir. ") == "Fermé ce soir."


async def test_a_store_keeps_notices_and_who_switched_them_on_and_off(tmp_path):
    store = await SqliteStore(tmp_path / "s.sqlite").open()
    try:
        start = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
        nid = await store.add_notice(TEXT, start, None, True, "claire")
        [kept] = await store.notices()
        assert (kept.id, kept.text, kept.starts_at, kept.ends_at, kept.closes, kept.created_by) == \
            (nid, TEXT, start, None, True, "claire")
        assert await store.end_notice(nid, "marc") and not await store.end_notice(nid, "marc")
        [ended] = await store.notices()
        assert ended.ended_by == "marc" and ended.ended_at is not None
    finally:
        await store.close()


def _after_welcome(result) -> str:
    """What the caller heard right after the welcome's second prompt."""
    played = [e.text for e in result.trace.channel.events if e.who == "note" and e.text.startswith("plays ")]
    return played[played.index(next(p for p in played if p.startswith("plays protection_donnees"))) + 1]


async def test_a_notice_is_heard_after_the_welcome_within_seconds_and_stops_as_quickly():
    async with embedded_server(notice_poll=0.1) as srv:
        nid = await srv.store.add_notice(TEXT, AT - timedelta(hours=1), None, False, "claire")
        await until(lambda: srv.notice_board.live(AT) is not None, "the node to read the notice")
        [heard] = await run_scenarios(load_scenarios([SELF_SERVED]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records)
        assert heard.passed, heard.failures  # the call goes on as before
        assert _after_welcome(heard).startswith("plays dyn-") and "annonce" in heard.record["path"]
        await srv.store.end_notice(nid, "claire")
        await until(lambda: srv.notice_board.live(AT) is None, "the node to see the notice off")
        [quiet] = await run_scenarios(load_scenarios([SELF_SERVED]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records)
        assert _after_welcome(quiet).startswith("plays menu_titre")


async def test_a_notice_that_closes_the_line_ends_the_call_with_a_goodbye():
    async with embedded_server(notice_poll=0.1) as srv:
        await srv.store.add_notice("La ligne est fermée aujourd'hui en raison d'une grève.", AT - timedelta(hours=1),
                                   AT + timedelta(hours=1), True, "claire")
        await until(lambda: srv.notice_board.live(AT) is not None, "the node to read the notice")
        [r] = await run_scenarios(load_scenarios([SELF_SERVED]), "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["outcome"] == "closed_hours" and r.record["path"][-2:] == ["annonce", "fin_annonce"]
    assert r.trace.channel.prompts[-1] == "au_revoir"


async def test_the_console_and_the_api_switch_notices_on_and_off():
    async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
        base, auth = f"http://127.0.0.1:{srv.admin.bound_port}", {"Authorization": "Bearer t0ken"}
        async with aiohttp.ClientSession(headers=auth) as http:
            async with http.post(f"{base}/notices", json={"text": TEXT, "ends_at": "+2h", "by": "claire"}) as resp:
                assert resp.status == 201
                created = await resp.json()
            assert srv.notice_board.live() is not None  # this node at once; the others at their next read
            async with http.post(f"{base}/notices", json={"text": "", "by": "claire"}) as resp:
                assert resp.status == 422 and "no text" in (await resp.json())["error"]
            async with http.get(f"{base}/notices", headers={"Accept": "text/html"}) as resp:
                page = await resp.text()
                assert resp.status == 200 and "Mettre en service" in page and "diffusée" in page and "claire" in page
            async with http.post(f"{base}/notices/{created['id']}/end", json={"by": "marc"}) as resp:
                assert resp.status == 200
            async with http.get(f"{base}/notices") as resp:
                listed = await resp.json()
        assert listed["live"] is None and listed["notices"][0]["ended_by"] == "marc"
        assert srv.notice_board.live() is None


def test_the_cli_switches_a_notice_on_lists_it_and_switches_it_off(tmp_path):
    store = str(tmp_path / "s.sqlite")
    runner = CliRunner()
    on = runner.invoke(app, ["notice", "on", TEXT, "--until", "+1h", "--by", "claire", "--store", store])
    assert on.exit_code == 0, on.output
    listed = runner.invoke(app, ["notice", "list", "--store", store])
    assert '"live": true' in listed.output and "claire" in listed.output
    assert runner.invoke(app, ["notice", "off", "1", "--by", "marc", "--store", store]).exit_code == 0
    assert '"live": false' in runner.invoke(app, ["notice", "list", "--store", store]).output
    refused = runner.invoke(app, ["notice", "on", "x", "--from", "demain", "--store", store])
    assert refused.exit_code == 2 and "is not a moment" in refused.output


async def test_a_notice_the_voice_cannot_render_is_skipped_and_the_call_goes_on():
    async with embedded_server(notice_poll=0.1) as srv:
        def broken(text: str, voice) -> bytes:
            raise RuntimeError("no voice")
        srv.readbacks._renderer = broken  # the offline voice gone (a broken espeak install)
        await srv.store.add_notice(TEXT + " (sans voix)", AT - timedelta(hours=1), None, False, "claire")
        await until(lambda: srv.notice_board.live(AT) is not None, "the node to read the notice")
        [r] = await run_scenarios(load_scenarios([ROOT / "ivr/sim/scenarios/02-no-file-number.yaml"]), "127.0.0.1",
                                  srv.agi_port, records=srv.memory_records)
    assert r.passed, r.failures  # no apology, no agent by error: the caller reaches the menu
    assert "annonce" in r.record["path"] and r.record["outcome"] != "error_routed"


NOTICE_SCENARIO = ROOT / "ivr/sim/scenarios/10-notice-closed.yaml"


async def test_a_scenario_s_notice_is_on_for_its_own_call_only_and_off_after_the_run():
    """The bundled scenario closes the line with a notice around its own moment: a call at another
    moment, in the same run, reaches the menu; the notice is switched off when the run ends, by the
    scenario's name in the audit."""
    from ivr.sim.notices import AUTHOR, AdminNotices

    async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
        assert srv.admin_url is not None
        closed, served = await run_scenarios(load_scenarios([NOTICE_SCENARIO, SELF_SERVED]), "127.0.0.1",
                                             srv.agi_port, concurrency=2, records=srv.memory_records,
                                             notices=AdminNotices(srv.admin_url, "t0ken"))
        assert closed.passed and served.passed, (closed.failures, served.failures)
        assert closed.record["reason"] == "closure_notice" and "menu_titre_clavier" in served.trace.channel.prompts
        [kept] = await srv.store.notices()
        assert kept.closes and (kept.created_by, kept.ended_by) == (AUTHOR, AUTHOR) and kept.ended_at is not None


async def test_a_scenario_s_notice_that_cannot_be_switched_on_fails_the_scenario_saying_why():
    from ivr.sim.notices import NO_SWITCH, AdminNotices

    async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
        assert srv.admin_url is not None
        for switch in (None, AdminNotices(srv.admin_url, "wrong")):  # no admin address; refused (401)
            [r] = await run_scenarios(load_scenarios([NOTICE_SCENARIO]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records, notices=switch)
            assert not r.passed and r.failures[0] == NO_SWITCH
        assert await srv.store.notices() == []


def test_a_scenario_s_notice_needs_the_call_s_moment(tmp_path):
    from ivr.sim.scenario import ScenarioError

    path = tmp_path / "notice.yaml"
    path.write_text("name: sans heure\ncall:\n  notice: {text: Fermé, closes: true}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="needs `at`") as raised:
        load_scenarios([path])
    assert "notice.yaml:" in str(raised.value)
