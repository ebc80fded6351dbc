"""What the agency is judged on, from the calls' records and their journeys after the IVR: satisfaction,
containment per title type and per path, the queues' service level, speed of answer and abandonment,
callback success; in /kpis and in /metrics, every series there from start-up."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ivr.admin.queue_kpis import callback_figures, queue_figures
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.waiting import until
from tests.notice_switch import notices_of
from tests.test_routing import ami, ami_settings, connected  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"


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
        for fields in _answered(contractor["uniqueid"], srv.node, "contractor", 25) + \
                _abandoned(inhouse["uniqueid"], srv.node, "inhouse", 90):
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
        after = await metrics_of(srv)
        assert after['ivr_satisfaction_ratings_total{rating="2",segment="carte_grise"}'] == 1
        assert after['ivr_satisfaction_asked_total{segment="permis"}'] == 1
        assert after['ivr_segment_self_served_total{segment="permis"}'] == 1
        assert after['ivr_queue_calls_total{queue="contractor",result="answered_late"}'] == 1
        assert after['ivr_queue_calls_total{queue="inhouse",result="abandoned"}'] == 1
        assert after['ivr_queue_answer_wait_seconds_count{queue="contractor"}'] == 1


async def _journeys_saved(srv, count: int) -> bool:
    return len([j for j in await srv.store.journeys_since(0) if j["finished"]]) >= count


def _where(uniqueid: str, queue: str) -> list[tuple[str, object]]:
    return [("Channel", "PJSIP/trunk-00000009"), ("Uniqueid", uniqueid), ("Linkedid", uniqueid), ("Queue", queue)]


def _join(uniqueid: str, node: str, queue: str) -> list[tuple[str, object]]:
    return [("Event", "QueueCallerJoin"), *_where(uniqueid, queue), ("Position", 1), ("Count", 1),
            ("ChanVariable", f"IVR_NODE={node}")]


def _answered(uniqueid: str, node: str, queue: str, waited: int) -> list[list[tuple[str, object]]]:
    return [_join(uniqueid, node, queue), [("Event", "QueueCallerLeave"), *_where(uniqueid, queue), ("Count", 0)],
            [("Event", "AgentConnect"), *_where(uniqueid, queue), ("MemberName", "agent2"), ("HoldTime", waited)],
            [("Event", "AgentComplete"), *_where(uniqueid, queue), ("TalkTime", 60), ("Reason", "agent")]]


def _abandoned(uniqueid: str, node: str, queue: str, waited: int) -> list[list[tuple[str, object]]]:
    return [_join(uniqueid, node, queue),
            [("Event", "QueueCallerAbandon"), *_where(uniqueid, queue), ("HoldTime", waited)],
            [("Event", "QueueCallerLeave"), *_where(uniqueid, queue), ("Count", 0)]]


def test_the_indicators_page_shows_what_the_agency_is_judged_on():
    from ivr.admin import pages

    window = {"satisfaction": {"asked": 4, "rated": 3, "response_rate": 0.75, "mean": 3.67, "top_share": 0.6667},
              "by_segment": {"permis": {"offered": 2, "self_served": 1, "containment": 0.5,
                                        "satisfaction": {"asked": 1, "rated": 1, "response_rate": 1.0, "mean": 4.0,
                                                         "top_share": 1.0}}},
              "by_path": [], "queues": queue_figures([journey("inhouse", "answered", 12)], since=0.0),
              "callback_success": callback_figures([(1.0, "done"), (1.0, "failed")], since=0.0)}
    html = pages._judged_on(window)
    for shown in ("Satisfaction", "75 %", "3,67", "67 %", "permis", "50 %", "Niveau de service", "100 %", "12 s",
                  "Rappels", "Réussite"):
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
