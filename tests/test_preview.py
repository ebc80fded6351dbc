"""The impact of a draft on real traffic before it goes live (issue 31, item 2): the last recorded calls
replayed through the draft, each call's ending before and after, the totals that move, and the calls
whose answers do not fit the draft listed, never guessed."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr.cli.main import app
from ivr.server.checks import declared_lookups
from ivr.server.embedded import embedded_server
from ivr.server.preview import last_records, preview
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import load_scenarios
from tests.notice_switch import notices_of
from tests.test_versions import edited, shipped

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "ivr" / "sim" / "scenarios"


@pytest.fixture
async def recorded():
    """The bundled scenarios' call records (served, routed, closed, hung up, a notice, the tracking down)
    and a server whose checker and profile the previews use."""
    async with embedded_server() as srv:
        results = await run_scenarios(load_scenarios([SCENARIOS]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records, notices=notices_of(srv))
        assert all(r.passed for r in results), [r.failures for r in results if not r.passed]
        yield srv, [r.record for r in results]


async def replay(srv, texts, records):
    config, errors = await srv.draft_checker()(texts)
    assert config is not None, errors
    return await preview(config, srv.profile, declared_lookups(srv.profile), records)


async def test_the_configuration_the_calls_were_recorded_with_replays_every_one_of_them_the_same(recorded):
    srv, records = recorded
    report = await replay(srv, shipped(), records)
    assert [(c.before, c.after) for c in report.calls if c.after != c.before] == []
    assert report.unfit == [] and len(report.calls) == len(records) == 10
    outcomes = {c.before.outcome for c in report.calls}
    assert {"self_served", "routed:inhouse", "routed:contractor", "closed_hours", "caller_hangup"} <= outcomes


async def test_a_rule_sending_complex_files_to_the_contractor_moves_those_calls_and_only_those(recorded):
    srv, records = recorded
    draft = shipped()
    draft["rules.yaml"] = draft["rules.yaml"].replace(
        "    when: {complex: true}\n    queue: inhouse", "    when: {complex: true}\n    queue: contractor", 1)
    report = await replay(srv, draft, records)
    [moved] = [c for c in report.calls if c.changed]
    assert (moved.before.outcome, moved.after.outcome) == ("routed:inhouse", "routed:contractor")
    totals = report.totals()
    assert totals["transfers"] == {"contractor / question_not_answered": {"before": 0, "after": 1},
                                   "inhouse / question_not_answered": {"before": 1, "after": 0}}
    assert totals["containment"]["before"] == totals["containment"]["after"] and totals["changed"] == 1


async def test_a_question_the_callers_never_answered_or_an_answer_no_longer_taken_is_listed_not_guessed(recorded):
    srv, records = recorded
    # The title menu no longer offers the carte grise (key 1): callers who chose it do not fit the draft.
    no_carte = edited(shipped(), '      - {value: carte_grise, key: "1", next: question_dossier}\n', "")
    report = await replay(srv, no_carte, records)
    unfit = {c.unfit for c in report.unfit}
    assert report.unfit and all("titre" in why and "carte_grise" in why for why in unfit), unfit
    assert all(c.after is not None for c in report.calls if c.before.outcome == "closed_hours")
    # A record from a flow the draft does not have, and one from before lookups kept their answers.
    stranger = {**copy.deepcopy(records[0]), "flow": "autre-ligne"}
    older = copy.deepcopy(next(r for r in records if r["lookups"] and r["lookups"][0]["status"] == "found"))
    for lookup in older["lookups"]:
        lookup.pop("fields")
    report = await replay(srv, shipped(), [stranger, older])
    assert [c.unfit for c in report.calls] == ["the draft has no flow 'autre-ligne'",
                                                "recorded before call records kept what lookups answered"]


async def test_the_last_records_come_from_the_end_of_a_large_records_file(tmp_path, recorded):
    _, records = recorded
    path = tmp_path / "calls.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(3000):
            f.write(json.dumps({**records[i % len(records)], "call_id": f"c{i}"}) + "\n")
        f.write("not json\n")
    last = await last_records(500, since=None, records_file=path, store=None)
    assert [r["call_id"] for r in last] == [f"c{i}" for i in range(2501, 3000)]  # the broken line is skipped


def test_the_cli_previews_a_draft_on_the_records_file(tmp_path, recorded, monkeypatch):
    _, records = recorded
    path = tmp_path / "calls.jsonl"
    path.write_text("".join(json.dumps({**records[i % len(records)], "call_id": f"c{i}"}) + "\n"
                            for i in range(500)), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(shipped()["rules.yaml"].replace("    when: {complex: true}\n    queue: inhouse",
                                                     "    when: {complex: true}\n    queue: contractor", 1))
    monkeypatch.setenv("IVR_STORE", str(tmp_path / "s.sqlite"))
    done = CliRunner().invoke(app, ["flows", "preview", str(ROOT / "ivr" / "flows"), "--rules", str(rules),
                                    "--records", str(path), "--calls", "500", "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.output.strip().splitlines()[-1])
    assert (report["calls"], report["unfit"], report["changed"]) == (500, 0, 50)  # one call in ten is complex
    assert report["transfers"]["contractor / question_not_answered"] == {"before": 0, "after": 50}
    broken = CliRunner().invoke(app, ["flows", "preview", str(ROOT / "ivr" / "flows"), "--rules", str(rules),
                                      "--records", str(path), "--since", "demain"])
    assert broken.exit_code == 2
    print(f"preview: {report['per_second']} recorded calls replayed per second")


async def test_an_edit_that_would_change_nothing_is_said_so(recorded):
    srv, records = recorded
    report = await replay(srv, edited(shipped(), "  retries: 3", "  retries: 4"), records)
    assert report.totals()["changed"] == 0 and report.unfit == []


async def test_an_editor_previews_a_draft_in_the_console_and_the_trail_keeps_it():
    from tests.test_signin import Browser, with_users

    async with embedded_server() as srv:
        results = await run_scenarios(load_scenarios([SCENARIOS]), "127.0.0.1", srv.agi_port,
                                      records=srv.memory_records, notices=notices_of(srv))
        assert all(r.passed for r in results)
        await with_users(srv, eddie="editor")
        rules = shipped()["rules.yaml"].replace("    when: {complex: true}\n    queue: inhouse",
                                                "    when: {complex: true}\n    queue: contractor", 1)
        async with Browser(srv) as editor:
            await editor.sign_in("eddie")
            await editor.get("/drafts?file=rules.yaml")
            status, page, _ = await editor.post("/drafts", {"file": "rules.yaml", "text": rules, "action": "preview",
                                                             "calls": "500"})
        assert status == 200 and "Aperçu sur 10 appels enregistrés" in page
        assert "routed:inhouse (question_not_answered)" in page and "routed:contractor (question_not_answered)" in page
        assert "inhouse / question_not_answered" in page
        [entry] = [e for e in await srv.store.audit() if e.action == "preview"]
        assert (entry.actor, entry.detail["calls"], entry.detail["changed"]) == ("eddie", 10, 1)
