"""``ivr bench personas``: the callers the help for callers who need time is for, on the line with it
and without it (issue 29, item 8)."""

from __future__ import annotations

from ivr.bench.personas import PERSONAS, run_personas_bench, without_help
from ivr.config import DEFAULT_FLOWS_DIR
from ivr.engine.validate import check_flows
from ivr.server.checks import offline_context


async def test_personas_with_and_without_the_help():
    report = await run_personas_bench(progress=lambda _m: None)
    rows = {r["persona"]: r for r in report["personas"]}
    assert list(rows) == [p.name for p in PERSONAS]
    searcher = rows["cherche son papier"]
    # Without a pause, the caller who looks for the paper is « not heard » three times and sent to an
    # agent; with it, the line waits and the file's status is given.
    assert searcher["without"]["outcome"].startswith("routed:") and searcher["without"]["failed_tries"] == 3
    assert searcher["with"]["outcome"] == "self_served" and searcher["with"]["failed_tries"] == 0
    assert searcher["with"]["pauses"] == 1
    repeat = rows["fait répéter"]
    assert repeat["with"]["failed_tries"] == 0 < repeat["without"]["failed_tries"]
    assert repeat["with"]["repeats"] == 2
    slow = rows["lent, hésitant"]
    assert slow["with"]["failed_tries"] < slow["without"]["failed_tries"]
    # Who needs no help loses nothing to it.
    for name in ("tape vite", "depuis l'étranger, 21 h 58"):
        with_, without = rows[name]["with"], rows[name]["without"]
        assert {k: v for k, v in with_.items() if k != "seconds"} == {k: v for k, v in without.items() if k != "seconds"}
        assert with_["outcome"] == "self_served" and with_["seconds"] <= without["seconds"] + 1


def test_the_line_without_the_help_is_the_shipped_flow_with_those_defaults_off(tmp_path):
    """The copy passes the same checker as any flow: "without" is a line an administrator could run."""
    ctx = offline_context(DEFAULT_FLOWS_DIR.parent / "prompts")
    [path] = without_help(DEFAULT_FLOWS_DIR, tmp_path / "flows").glob("*.yaml")
    without, errors = check_flows([path], ctx)
    assert errors == []
    shipped, _ = check_flows([DEFAULT_FLOWS_DIR / path.name], ctx)
    d = without["ants-3400"].model.defaults
    assert (d.repeat_key, d.slower_key, d.pause.key, d.pause.times, d.complete_answer_silence) == (
        None, None, None, 0, None)
    assert without["ants-3400"].model.nodes == shipped["ants-3400"].model.nodes
