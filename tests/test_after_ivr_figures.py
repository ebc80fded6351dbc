"""What the agency is judged on, from the calls' records and their journeys after the IVR: satisfaction,
containment per title type and per path, the queues' service level, speed of answer and abandonment,
callback success; in /kpis and in /metrics, every series there from start-up."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from ivr.admin.queue_kpis import callback_figures, queue_figures, queue_figures_by_segment
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.waiting import until
from tests.browser import Chromium, chromium_path
from tests.notice_switch import notices_of
from tests.test_routing import ami, ami_settings, connected  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"
SCREENSHOTS = ROOT / "var" / "screenshots"


def journey(queue: str, state: str, waited: int, joined: float = 1000.0, finished: bool = True) -> dict:
    return {"uniqueid": f"{joined}.{waited}", "queue": queue, "state": state, "waited_s": waited,
            "joined_at": joined, "finished": finished}


def test_service_level_speed_of_answer_and_abandonment_count_the_callers_who_waited_it_out():
    journeys = [journey("inhouse", "answered", 5), journey("inhouse", "answered", 20), journey("inhouse", "answered", 50),
                journey("inhouse", "abandoned", 70), journey("inhouse", "left", 30), journey("inhouse", "unknown", 0),
                journey("inhouse", "waiting", 12, finished=False), journey("inhouse", "answered", 5, joined=10.0)]
    figures = queue_figures(journeys, since=500.0, service_level_s=20, queues=["inhouse", "contractor"])
    inhouse = figures["inhouse"]
    assert (inhouse["offered"], inhouse["answered"], inhouse["answered_in_time"], inhouse["abandoned"],
            inhouse["left"], inhouse["unknown"], inhouse["waiting"]) == (7, 3, 2, 1, 1, 1, 1)
    assert inhouse["service_level"] == 0.5  # 2 in 20 s of the 4 who waited it out (3 answered, 1 abandoned)
    assert inhouse["average_speed_of_answer_s"] == 25.0
    assert inhouse["abandonment"] == 0.25
    # A queue nobody was handed to is there, with nothing to divide.
    assert figures["contractor"]["offered"] == 0 and figures["contractor"]["service_level"] is None


def test_the_queues_figures_per_title_type_count_each_title_in_the_queues_it_was_offered_to():
    journeys = [{**journey("inhouse", "answered", 5), "segment": "passeport"},
                {**journey("inhouse", "abandoned", 60), "segment": "carte_grise"},
                {**journey("contractor", "answered", 30), "segment": "carte_grise"},
                journey("contractor", "answered", 10)]  # the caller never said their title
    by_title = queue_figures_by_segment(journeys, since=0.0, service_level_s=20)
    assert {title: sorted(queues) for title, queues in by_title.items()} == {
        "-": ["contractor"], "carte_grise": ["contractor", "inhouse"], "passeport": ["inhouse"]}
    assert (by_title["passeport"]["inhouse"]["service_level"], by_title["carte_grise"]["inhouse"]["abandonment"],
            by_title["carte_grise"]["contractor"]["service_level"]) == (1.0, 1.0, 0.0)
    assert queue_figures_by_segment(journeys, since=5000.0) == {}


async def test_the_figures_read_again_only_what_changed_and_forget_what_left_the_seven_days(tmp_path):
    from ivr.server.after_ivr import AfterIvr
    from ivr.store.sqlite import SqliteStore

    now = [1_000_000.0]
    store = await SqliteStore(tmp_path / "s.sqlite").open()
    try:
        reads: list[float | None] = []
        real = store.journeys_since

        async def journeys_since(since, limit=100_000, *, changed_after=None):
            reads.append(changed_after)
            return await real(since, limit, changed_after=changed_after)

        store.journeys_since = journeys_since  # type: ignore[method-assign]
        after = AfterIvr(store, queues=lambda: ["inhouse"], service_level_s=20, clock=lambda: now[0])
        waiting = {**journey("inhouse", "waiting", 0, joined=now[0] - 5, finished=False), "node": "vm1",
                   "updated_at": now[0] - 5}
        await store.save_journeys([waiting])
        await after.refresh()
        assert after.figures("today", 0.0)["queues"]["inhouse"]["waiting"] == 1
        now[0] += 10
        await store.save_journeys([{**waiting, "state": "answered", "waited_s": 15, "finished": True,
                                    "updated_at": now[0] - 1}])
        await after.refresh()
        assert reads == [None, now[0] - 10 - 60]  # the second read asks only what was saved since (a minute's margin)
        inhouse = after.figures("today", 0.0)["queues"]["inhouse"]
        assert (inhouse["waiting"], inhouse["answered_in_time"]) == (0, 1)
        now[0] += 8 * 86400  # a week on: the journey is out of the 7 days, read whole again
        await after.refresh()
        assert after.journeys == [] and reads[-1] is None
    finally:
        await store.close()


def test_callback_success_is_over_the_callbacks_that_ended():
    figures = callback_figures([(100.0, "done"), (100.0, "failed"), (100.0, "done"), (100.0, "pending"),
                                (100.0, "holding"), (1.0, "done")], since=50.0)
    assert figures == {"booked": 5, "done": 2, "failed": 1, "pending": 2, "success": 0.6667}


async def get_json(srv, path: str) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{srv.admin_url}{path}") as resp:
        assert resp.status == 200
        return await resp.json()


async def metrics_of(srv) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"{srv.admin_url}/metrics") as resp:
        text = await resp.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line and not line.startswith("#")}


#: A file of each title the tracking stub knows.
FILES = {"1": "5458443881#", "2": "7864570948#"}


def rated(name: str, title_key: str, rating: str) -> Scenario:
    """A self-served call about one title, rated."""
    return Scenario.model_validate({
        "name": name, "call": {"at": "2026-11-24T10:00:00+01:00"},
        "steps": [{"kind": "press", "digits": d} for d in (title_key, "1", FILES[title_key], "1", "1", rating)],
        "expect": {"outcome": "self_served"}})


async def test_satisfaction_and_containment_per_title_and_the_queues_in_kpis_and_metrics(ami):  # noqa: F811
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        before = await metrics_of(srv)
        # Every series the dashboard and the alerts read is there before any call, at 0.
        for series in ('ivr_calls_total{outcome="routed:inhouse"}', 'ivr_queue_calls_total{queue="contractor",'
                       'result="answered_in_time"}', 'ivr_satisfaction_ratings_total{rating="5",segment="passeport"}',
                       'ivr_segment_offered_total{segment="cni"}', 'ivr_node_visits_total{flow="ants-3400",'
                       'node="satisfaction"}', 'ivr_satisfaction_asked_total{segment="-"}'):
            assert before[series] == 0, series
        calls = [rated("note 5", "1", "5"), rated("note 2", "1", "2"), rated("note 4", "2", "4"),
                 *load_scenarios([SCENARIOS / "02-no-file-number.yaml", SCENARIOS / "03-complex-file-inhouse.yaml"])]
        results = await run_scenarios(calls, "127.0.0.1", srv.agi_port, records=srv.memory_records,
                                      notices=notices_of(srv))
        assert all(r.passed for r in results), [r.failures for r in results]
        contractor, inhouse = results[3].record, results[4].record
        # After the IVR: the contractor's caller waits 25 s and is answered; the in-house one gives up after 90 s.
        # Asterisk reports the title the IVR passed on (IVR_TITLE) with each queue event (manager.conf channelvars).
        titles = [r.trace.channel.variables.get("IVR_TITLE", "") for r in results[3:]]
        assert titles == ["permis", "carte_grise"]
        for fields in _answered(contractor["uniqueid"], titles[0], "contractor", 25) + \
                _abandoned(inhouse["uniqueid"], titles[1], "inhouse", 90):
            ami.emit(fields)
        await until(lambda: _journeys_saved(srv, 2), "both journeys saved")
        await srv.after_ivr.refresh()
        today = (await get_json(srv, "/kpis"))["windows"]["today"]
        assert today["satisfaction"] == {"asked": 3, "rated": 3, "response_rate": 1.0, "mean": 3.67, "top_share": 0.6667}
        cartes, permis = today["by_segment"]["carte_grise"], today["by_segment"]["permis"]
        assert (cartes["offered"], cartes["self_served"], cartes["satisfaction"]["mean"]) == (3, 2, 3.5)
        assert (permis["offered"], permis["containment"]) == (2, 0.5)
        assert sum(p["offered"] for p in today["by_path"]) == today["offered"] == 5
        queues = today["queues"]
        assert (queues["contractor"]["answered_in_time"], queues["contractor"]["service_level"]) == (0, 0.0)
        assert queues["contractor"]["average_speed_of_answer_s"] == 25.0
        assert (queues["inhouse"]["abandoned"], queues["inhouse"]["abandonment"]) == (1, 1.0)
        # The same per title type: the permis caller was answered, the carte grise one gave up.
        by_title = today["queues_by_segment"]
        assert set(by_title) == {"permis", "carte_grise"}
        assert (by_title["permis"]["contractor"]["answered"], set(by_title["permis"])) == (1, {"contractor"})
        assert (by_title["carte_grise"]["inhouse"]["abandonment"], set(by_title["carte_grise"])) == (1.0, {"inhouse"})
        after = await metrics_of(srv)
        assert after['ivr_satisfaction_ratings_total{rating="2",segment="carte_grise"}'] == 1
        assert after['ivr_satisfaction_asked_total{segment="permis"}'] == 1
        assert after['ivr_segment_self_served_total{segment="permis"}'] == 1
        assert after['ivr_queue_calls_total{queue="contractor",result="answered_late"}'] == 1
        assert after['ivr_queue_calls_total{queue="inhouse",result="abandoned"}'] == 1
        assert after['ivr_queue_answer_wait_seconds_count{queue="contractor"}'] == 1


async def _ended(srv, uniqueid: str) -> bool:
    journey = (await srv.store.journeys([uniqueid])).get(uniqueid)
    return bool(journey and journey["finished"])


async def _journeys_saved(srv, count: int) -> bool:
    return len([j for j in await srv.store.journeys_since(0) if j["finished"]]) >= count


def _where(uniqueid: str, queue: str) -> list[tuple[str, object]]:
    return [("Channel", "PJSIP/trunk-00000009"), ("Uniqueid", uniqueid), ("Linkedid", uniqueid), ("Queue", queue)]


def _join(uniqueid: str, title: str, queue: str) -> list[tuple[str, object]]:
    return [("Event", "QueueCallerJoin"), *_where(uniqueid, queue), ("Position", 1), ("Count", 1),
            ("ChanVariable", f"IVR_QUEUE={queue}"),  # a node alone: no IVR_NODE, the queue the IVR chose
            ("ChanVariable", f"IVR_TITLE={title}")]


def _answered(uniqueid: str, title: str, queue: str, waited: int) -> list[list[tuple[str, object]]]:
    return [_join(uniqueid, title, queue), [("Event", "QueueCallerLeave"), *_where(uniqueid, queue), ("Count", 0)],
            [("Event", "AgentConnect"), *_where(uniqueid, queue), ("MemberName", "agent2"), ("HoldTime", waited)],
            [("Event", "AgentComplete"), *_where(uniqueid, queue), ("TalkTime", 60), ("Reason", "agent")]]


def _abandoned(uniqueid: str, title: str, queue: str, waited: int) -> list[list[tuple[str, object]]]:
    return [_join(uniqueid, title, queue),
            [("Event", "QueueCallerAbandon"), *_where(uniqueid, queue), ("HoldTime", waited)],
            [("Event", "QueueCallerLeave"), *_where(uniqueid, queue), ("Count", 0)]]


def test_the_indicators_page_shows_what_the_agency_is_judged_on():
    from ivr.admin import pages

    window = {"satisfaction": {"asked": 4, "rated": 3, "response_rate": 0.75, "mean": 3.67, "top_share": 0.6667},
              "by_segment": {"permis": {"offered": 2, "self_served": 1, "containment": 0.5,
                                        "satisfaction": {"asked": 1, "rated": 1, "response_rate": 1.0, "mean": 4.0,
                                                         "top_share": 1.0}}},
              "by_path": [], "queues": queue_figures([journey("inhouse", "answered", 12)], since=0.0),
              "queues_by_segment": queue_figures_by_segment(
                  [{**journey("contractor", "abandoned", 40), "segment": "passeport"}], since=0.0),
              "callback_success": callback_figures([(1.0, "done"), (1.0, "failed")], since=0.0)}
    html = pages._judged_on(window)
    for shown in ("Satisfaction", "75 %", "3,67", "67 %", "permis", "50 %", "Niveau de service", "100 %", "12 s",
                  "Rappels", "Réussite", "Files par type de titre", "passeport"):
        assert shown in html, shown


async def test_once_and_done_counts_a_caller_and_a_file_that_call_again():
    async with embedded_server() as srv:
        again = [Scenario.model_validate({
            "name": f"appel {n}", "call": {"at": "2026-11-24T10:00:00+01:00", "caller": "0611223344"},
            "steps": [{"kind": "press", "digits": d} for d in ("1", "1", "5458443881#", "1", "1", "5")]})
            for n in (1, 2)]
        other = load_scenarios([SCENARIOS / "02-no-file-number.yaml"])
        results = await run_scenarios([*again, *other], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert all(r.passed for r in results), [r.failures for r in results]
        await until(lambda: srv.contacts.saved >= 5, "the contacts saved", seen=lambda: srv.contacts.saved)
        await srv.after_ivr.refresh()
        once = (await get_json(srv, "/kpis"))["windows"]["today"]["once_and_done"]
        callers, files = once["so_far"]["caller"], once["so_far"]["file"]
        # Three calls from two callers: the first call of the one who called twice was not « done ».
        assert (callers["calls"], callers["called_again"], callers["once_and_done"]) == (3, 1, 0.6667)
        assert (files["calls"], files["called_again"]) == (2, 1)
        assert callers["by_segment"]["carte_grise"]["called_again"] == 1
        assert callers["by_segment"]["permis"] == {"calls": 1, "called_again": 0, "once_and_done": 1.0}
        # A week ago nothing was recorded: nothing to judge yet.
        assert once["judged"]["caller"]["calls"] == 0 and once["judged"]["caller"]["once_and_done"] is None


# -- day by day ----------------------------------------------------------------------------------------


def test_days_follow_the_lines_dates_across_a_daylight_saving_night():
    from datetime import datetime, timedelta

    from ivr.admin.daily import day_figures
    from tests.test_operations import kpis_at, record

    # Sunday 25 October 2026, Paris: 25 hours long. The week up to Tuesday 27th, 10:30.
    now = datetime.fromisoformat("2026-10-27T10:30:00+01:00")
    kpis = kpis_at(now)
    rated = [{"node": "satisfaction", "slot": "rating", "value": "5", "mode": "dtmf"}]
    kpis.write(record("self_served", ended=datetime.fromisoformat("2026-10-25T23:30:00+01:00"), recognition=rated))
    kpis.write(record("routed:inhouse", ended=datetime.fromisoformat("2026-10-26T00:10:00+01:00"), queue="inhouse"))
    kpis.write(record("self_served", ended=now - timedelta(minutes=5)))
    days = kpis.days(7)
    assert [d for d, _, _ in days] == ["2026-10-21", "2026-10-22", "2026-10-23", "2026-10-24", "2026-10-25",
                                       "2026-10-26", "2026-10-27"]
    assert days[5][1] - days[4][1] == 25 * 3600  # the long night
    rows = day_figures(days, [(0, 0)] * 6 + [(4, 5)])
    by_day = {r.day: r for r in rows}
    assert (by_day["2026-10-25"].offered, by_day["2026-10-25"].containment, by_day["2026-10-25"].satisfaction_4_5) == (
        1, 1.0, 1.0)
    assert (by_day["2026-10-26"].offered, by_day["2026-10-26"].containment) == (1, 0.0)
    assert by_day["2026-10-27"].service_level == 0.8 and by_day["2026-10-24"].containment is None


def test_the_days_as_csv_and_as_a_chart_with_gaps_where_a_day_has_no_figure():
    from ivr.admin.daily import DayFigures, days_csv, days_svg

    rows = [DayFigures("2026-11-23", 10, 9, 6, 0.6667, 4, 0.75, 3, 2, 0.6667),
            DayFigures("2026-11-24", 0, 0, 0, None, 0, None, 0, 0, None),
            DayFigures("2026-11-25", 10, 10, 8, 0.8, 5, 0.8, 4, 4, 1.0),
            DayFigures("2026-11-26", 10, 10, 9, 0.9, 5, 1.0, 4, 3, 0.75)]
    csv_text = days_csv(rows)
    assert csv_text.splitlines()[0] == ("day,calls,offered,self_served,containment,ratings,satisfaction_4_5,"
                                        "waited_out,answered_in_time,service_level")
    assert csv_text.splitlines()[2] == "2026-11-24,0,0,0,,0,,0,0,"
    svg = days_svg(rows)
    # Three figures, each a point a day it has (3 days of 4), a line over the days that follow each other.
    assert svg.startswith("<svg") and svg.count("<circle") == 9 and svg.count("<polyline") == 3
    for legend in ("Autonomie", "Satisfaction (notes 4–5)", "Niveau de service des files", "11-26"):
        assert legend in svg
    assert days_svg([]) == ""


async def test_the_console_draws_the_days_and_hands_out_the_csv():
    async with embedded_server() as srv:
        results = await run_scenarios([rated("note 5", "1", "5")], "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records)
        assert results[0].passed
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{srv.admin_url}/kpis/days?format=csv") as resp:
                assert resp.content_type == "text/csv" and "attachment" in resp.headers["Content-Disposition"]
                last = (await resp.text()).splitlines()[-1]
            async with http.get(f"{srv.admin_url}/kpis", headers={"Accept": "text/html"}) as resp:
                page = await resp.text()
        day = last.split(",")
        assert (day[2], day[3], day[4], day[5], day[6]) == ("1", "1", "1.0", "1", "1.0")  # offered, served, rated
        assert (await get_json(srv, "/kpis/days"))["days"][-1]["ratings"] == 1
        assert "<svg" in page and "Jour par jour" in page and "/kpis/days?format=csv" in page


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium (apt-get install chromium; scripts/setup does it)")
async def test_the_call_page_and_the_days_chart_in_a_real_browser(ami):  # noqa: F811
    """In headless Chromium, no script error nor Content-Security-Policy violation: a routed call's journey,
    and the indicators page's chart (screenshots in var/screenshots/, copies in docs/console/)."""
    async with embedded_server(**ami_settings(ami)) as srv:
        await connected(srv)
        await _earlier_days(srv)
        calls = [rated("note 5", "1", "5"), rated("note 4", "2", "4"), *load_scenarios([SCENARIOS / "02-no-file-number.yaml"])]
        results = await run_scenarios(calls, "127.0.0.1", srv.agi_port, records=srv.memory_records)
        routed = results[-1].record
        for fields in _answered(routed["uniqueid"], "permis", "contractor", 14):
            ami.emit(fields)
        await until(lambda: _ended(srv, routed["uniqueid"]), "the journey saved")
        await srv.after_ivr.refresh()
        seen = {}
        async with Chromium() as browser:
            for name, path, ready in (("call-journey", f"/calls/{routed['call_id']}", "true"),
                                      ("kpis-days", "/kpis", "document.querySelector('svg.chart') !== null")):
                visit, seen[name] = await browser.visit(
                    srv.admin_url + path, ready=ready, screenshot=SCREENSHOTS / f"{name}.png",
                    evaluate={"text": "document.body.innerText",
                              "lines": "document.querySelectorAll('svg.chart polyline').length",
                              "points": "document.querySelectorAll('svg.chart circle').length"})
                assert visit.errors == [] and visit.status == 200, (name, visit.errors)
    journey = seen["call-journey"]["text"]
    for shown in ("Après le SVI", "pris par un conseiller", "14 s", "agent2"):
        assert shown in journey, shown
    # Seven days, three figures: a line for each over the days that have it.
    assert seen["kpis-days"]["lines"] == 3 and seen["kpis-days"]["points"] >= 15
    assert "Télécharger ces chiffres (CSV)" in seen["kpis-days"]["text"]


async def _earlier_days(srv) -> None:
    """Calls of the six days before today, straight into the indicators (what a week of records rebuilds at
    start) and their journeys into the store, so that the chart has a week to draw: containment,
    satisfaction and service level vary from day to day."""
    from datetime import datetime, timedelta, timezone

    from tests.test_operations import record

    now = datetime.now(timezone.utc)
    for back in range(1, 7):
        day = now - timedelta(days=back)
        for n in range(10):
            served = n < 5 + back % 4
            rating = [{"node": "satisfaction", "slot": "rating", "value": "5" if n % 3 else "3", "mode": "dtmf"}]
            srv.kpis.write(record("self_served" if served else "routed:contractor", ended=day - timedelta(minutes=n),
                                  recognition=rating if served else (), queue="" if served else "contractor"))
        await srv.store.save_journeys([{**journey("contractor", "answered", 10 + 15 * n * back % 40,
                                                  joined=(day - timedelta(minutes=n)).timestamp()),
                                        "uniqueid": f"{day.timestamp():.0f}.{n}", "node": srv.node,
                                        "updated_at": day.timestamp()} for n in range(4)])
