"""Administrators: nothing that passes the checker can break a live call, and reloads are safe.

Each mistake an administrator made in the audit is rejected with file:line by the checker (the code
``ivr flows check`` runs) and by a running server's reload, while a call in progress goes on.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from ivr.ants3400.profile import PROFILE
from ivr.config import DEFAULT_PROMPTS_DIR, DEFAULT_RULES
from ivr.server.app import LineRejected
from ivr.server.checks import declared_lookups
from ivr.server.embedded import embedded_server
from ivr.server.line import LineSources, load_line
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.tts.catalog import build_prompts, load_catalog
from ivr.waiting import until
from tests.clocks import OPEN

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"
SIMPLE = "5458443881"


@pytest.fixture
def line(tmp_path) -> dict[str, Path]:
    """A copy of the shipped line an administrator edits: flows, prompts (catalog and audio), rules."""
    (tmp_path / "flows").mkdir()
    shutil.copy(FLOW, tmp_path / "flows" / FLOW.name)
    shutil.copytree(DEFAULT_PROMPTS_DIR, tmp_path / "prompts", ignore=shutil.ignore_patterns("cache"))
    shutil.copy(DEFAULT_RULES, tmp_path / "rules.yaml")
    return {"flows": tmp_path / "flows", "flow": tmp_path / "flows" / FLOW.name, "prompts": tmp_path / "prompts",
            "catalog": tmp_path / "prompts" / "catalog.yaml", "rules": tmp_path / "rules.yaml", "tmp": tmp_path}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_no(path: Path, needle: str) -> int:
    return next(i for i, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in text)


def check(line: dict[str, Path]) -> list[str]:
    """What ``ivr flows check`` says of the line (the same function the server reloads with)."""
    lookups = declared_lookups(PROFILE)
    config, errors = load_line(LineSources([line["flows"]], line["catalog"], line["rules"]), PROFILE, lookups)
    assert (config is None) == bool(errors)
    return errors


def lookup_call(name: str = "appel") -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": d} for d in ("1", "1", f"{SIMPLE}#", "1")]
                                    + [{"kind": "hangup"}]})


def server(line: dict[str, Path], **more):
    return embedded_server(flows_dir=line["flows"], prompts_dir=line["prompts"], routing_rules=line["rules"],
                           dynamic_prompts_dir=line["tmp"] / "cache", **more)


async def reload_during_a_call(srv, line) -> tuple[list[str], object]:
    """Reload while a call is in progress (held in the title menu until the reload is over); returns the
    reload's errors and the call's result."""
    menu = PromptGate("menu_titre")
    running = asyncio.create_task(run_scenarios([lookup_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records,
                                                gate=menu))
    await until(lambda: menu.held == 1, "the call in the title menu")
    assert srv.supervisor.live
    report = await srv.reload_line()
    menu.release()
    [result] = await running
    return report.errors, result


MISTAKES = [
    # (what the administrator did, edit on the flow, the error's line marker, what the error says)
    ("a holiday written the French way",
     ("    closed_dates: []\n", '    closed_dates: ["2026-12-31", "24/12/2026"]\n'),
     '    closed_dates: ["2026', "'24/12/2026' is not a date written YYYY-MM-DD"),
    ("a variable typo in a lookup argument",
     ('args: {title_type: "{title}"', 'args: {title_type: "{titre}"'), "args:",
     "reads variable 'titre', which no node sets (did you mean 'title'?)"),
    ("a filter typo",
     ('file: "{file_number|mask}", status:', 'file: "{file_number|masque}", status:'),
     "masque", "unknown template filter 'masque' (did you mean 'mask'?)"),
    ("a branch on a variable nothing sets",
     ("{var: numero_ressaisi, exists: true", "{var: numero_resaisi, exists: true"), "numero_resaisi",
     "tests variable 'numero_resaisi', which no node sets (did you mean 'numero_ressaisi'?)"),
    ("a menu choice on the agent key",
     ('{value: passeport, key: "4"', '{value: passeport, key: "0"'), 'passeport, key: "0"',
     "key 0 is the agent key (defaults.agent_key)"),
    ("a misspelt field",
     ("    prompt: question_repondue\n", "    promt: question_repondue\n"), "promt:",
     "unknown field 'promt' (did you mean 'prompt'?)"),
    ("an opening-hours typo",
     ('      tue: "07:45-22:00"', '      tue: "07:45-2200"'), "tue:", "opening hours must look like 07:45-22:00"),
    ("a node named twice",
     ("\n  fin_servi:\n", "\n  merci_note:\n    kind: hangup\n    outcome: self_served\n\n  fin_servi:\n"),
     "merci_note:\n    kind: hangup\n    outcome: self_served", 'the key "merci_note" appears twice'),
    ("a tab in the indentation",
     ("    kind: play\n    prompts: [bienvenue", "    kind: play\n\tprompts: [bienvenue"), "\tprompts",
     "a tab character: YAML indents with spaces only"),
]


@pytest.mark.parametrize("what, change, marker, message", MISTAKES, ids=[m[0] for m in MISTAKES])
async def test_each_mistake_is_rejected_at_its_line_by_the_checker_and_by_a_live_reload(line, what, change, marker,
                                                                                         message):
    async with server(line) as srv:
        version = srv.flows.versions["ants-3400"]
        edit(line["flow"], *change)
        expected = line_no(line["flow"], marker.split("\n")[-1] if marker.startswith("merci_note:") else marker)
        if marker.startswith("merci_note:"):  # the second "merci_note:" line
            expected = [i for i, t in enumerate(line["flow"].read_text().splitlines(), 1) if t == "  merci_note:"][1]
        errors = check(line)
        assert any(e.startswith(f"{line['flow']}:{expected}: ") and message in e for e in errors), errors
        reload_errors, call = await reload_during_a_call(srv, line)
        assert reload_errors == errors
        assert call.passed, call.failures  # the call in progress finished on the running version
        assert srv.flows.versions["ants-3400"] == version
        [after] = await run_scenarios([lookup_call("après")], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert after.passed and after.record["flow_version"] == version


def test_one_wrong_target_gives_one_error_not_a_cascade(line):
    edit(line["flow"], "    no: sans_numero\n", "    no: sans_numro\n")
    errors = check(line)
    assert errors == [f"{line['flow']}:{line_no(line['flow'], 'no: sans_numro')}: node 'question_dossier': non leads "
                      f"to 'sans_numro', which does not exist (did you mean 'sans_numero'?)"]


def test_errors_come_sorted_by_file_and_line(line):
    edit(line["flow"], "slot: title_type", "slot: titre")
    edit(line["flow"], "service: tracking", "service: suivi")
    edit(line["flow"], "kind: say", "kind: speak")
    errors = check(line)
    numbers = [int(e.split(":")[1]) for e in errors]
    assert len(errors) == 3 and numbers == sorted(numbers)


def test_a_subflow_calling_its_own_flow_is_rejected(line):
    edit(line["flow"], "  inconnu_annonce:\n    kind: play\n    prompts: [dossier_inconnu]\n    next: numero\n",
         "  inconnu_annonce:\n    kind: subflow\n    flow: ants-3400\n    next: numero\n")
    errors = check(line)
    assert any(f":{line_no(line['flow'], '    flow: ants-3400')}: " in e and "leads back to flow 'ants-3400'" in e
               for e in errors), errors


def test_a_prompt_whose_text_changed_without_a_render_is_stale(line):
    edit(line["catalog"], "    Bienvenue au service d'information", "    Bonjour et bienvenue au service d'information")
    errors = check(line)
    assert any("prompt 'bienvenue': its text changed since its audio was rendered" in e
               and e.startswith(f"{line['flow']}:") for e in errors), errors


async def test_a_new_prompt_and_the_flow_using_it_apply_in_one_reload(line):
    async with server(line) as srv:
        with open(line["catalog"], "a", encoding="utf-8") as f:
            f.write("  info_travaux: Le service est perturbé ce matin, merci de votre patience.\n")
        edit(line["flow"], "prompts: [bienvenue, protection_donnees]", "prompts: [bienvenue, info_travaux, protection_donnees]")
        report = await srv.reload_line()
        assert any("prompt 'info_travaux' has no rendered WAV: run `ivr prompts build`" in e for e in report.errors)
        # Rendered (the test double renders silence), the same edit is accepted: catalog and flow together.
        build_prompts(load_catalog(line["catalog"]), only={"info_travaux"}, renderer=lambda text, voice: b"\0\0" * 800)
        report = await srv.reload_line()
        assert report.ok, report.errors
        [call] = await run_scenarios([lookup_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert "info_travaux" in call.trace.channel.prompts


async def test_a_backup_copy_rejects_the_reload_and_the_edited_file_is_not_shadowed(line):
    async with server(line) as srv:
        version = srv.flows.versions["ants-3400"]
        shutil.copy(line["flow"], line["flows"] / "ants-3400-backup.yaml")
        edit(line["flow"], "reason: no_file_number", "reason: sans_numero_v2")
        report = await srv.reload_line()
        assert any("flow name 'ants-3400' is already used by" in e and "backup" in e for e in report.errors), report.errors
        assert srv.flows.versions["ants-3400"] == version
        (line["flows"] / "ants-3400-backup.yaml").unlink()
        assert (await srv.reload_line()).ok and srv.flows.versions["ants-3400"] != version


async def test_a_deleted_flow_file_unloads_its_flow(line):
    second = line["flows"] / "essai.yml"  # *.yml files are flows too
    second.write_text(line["flow"].read_text().replace("flow: ants-3400", "flow: essai"), encoding="utf-8")
    async with server(line) as srv:
        assert set(srv.flows.versions) == {"ants-3400", "essai"}
        second.unlink()
        report = await srv.reload_line()
        assert report.ok and report.removed == ["essai"]
        scenario = Scenario.model_validate({"name": "x", "call": {"at": OPEN, "request": "essai"}})
        [r] = await run_scenarios([scenario], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.record["reason"] == "unknown_flow" and r.outcome == "error_routed"


async def test_broken_rules_reject_the_whole_reload(line):
    async with server(line) as srv:
        edit(line["rules"], "when: {status: [refuse]}", "when: {status: [refusé]}")
        edit(line["flow"], "reason: no_file_number", "reason: sans_numero_v2")  # a valid flow edit, not applied
        report = await srv.reload_line()
        assert report.errors == [f"{line['rules']}:{line_no(line['rules'], '[refusé]')}: rules.1.when.status: 'refusé' "
                                 f"is never a status (did you mean 'refuse'?): this test could never match "
                                 f"(attente_pieces, disponible, en_instruction, expedie, expertise, produit, refuse)"]
        scenario = Scenario.model_validate({"name": "x", "call": {"at": OPEN},
                                            "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}]})
        [r] = await run_scenarios([scenario], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.record["reason"] == "no_file_number"


def test_rules_check_command(line):
    ok = subprocess.run([sys.executable, "-m", "ivr", "rules", "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "ok " in ok.stdout
    edit(line["rules"], "when: {complex: true}", "when: {complexe: true}")
    bad = subprocess.run([sys.executable, "-m", "ivr", "rules", "check", str(line["rules"])], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{line['rules']}:{line_no(line['rules'], '{complexe: true}')}:" in bad.stderr and "unknown field 'complexe'" in bad.stderr


def test_flows_check_reads_yml_and_refuses_an_empty_or_missing_folder(tmp_path, line):
    (line["flows"] / FLOW.name).rename(line["flows"] / "ants-3400.yml")
    ok = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(line["flows"])], capture_output=True, text=True)
    assert ok.returncode == 0 and "ants-3400.yml" in ok.stdout
    empty = tmp_path / "vide"
    empty.mkdir()
    for folder, message in ((empty, "no flow file (*.yaml, *.yml) in this folder"), (tmp_path / "absent", "no such file")):
        bad = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(folder)], capture_output=True, text=True)
        assert bad.returncode == 1 and message in bad.stderr


@pytest.mark.parametrize("content, message", [
    # A "billion laughs": 9 levels of 9 aliases, a few hundred bytes.
    ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9)
                                           + "]\n" for i in range(8)), "YAML aliases (*a) are not accepted"),
    ("x" * (21 * 1024 * 1024), "at most 1,048,576 are read"),
])
async def test_a_bomb_or_a_huge_file_is_refused_without_freezing_calls(line, content, message):
    async with server(line) as srv:
        (line["flows"] / "piege.yaml").write_text(content, encoding="utf-8")
        # (How long a live call waits meanwhile is `ivr bench reload`'s business.)
        errors, call = await reload_during_a_call(srv, line)
        assert any(e.startswith(f"{line['flows'] / 'piege.yaml'}:") and message in e for e in errors), errors
        assert call.passed


async def test_a_restart_serves_the_last_accepted_version_and_says_so(line):
    async with server(line, accepted_dir=line["tmp"] / "accepted") as srv:
        good = srv.flows.versions["ants-3400"]
        line_version = srv.line_state.version
    edit(line["flow"], "kind: say", "kind: speak")
    async with server(line, accepted_dir=line["tmp"] / "accepted") as srv:
        assert srv.flows.versions == {"ants-3400": good}
        assert srv.line_state.serving == "accepted copy" and srv.line_state.version == line_version
        assert any("unknown node kind 'speak'" in e for e in srv.line_state.rejected)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}/readyz") as resp:
                ready = await resp.json()
            async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}/flows") as resp:
                flows = await resp.json()
        assert ready["ready"] and "the last accepted version" in ready["checks"]["flows"]["serving"]
        assert flows["line"]["serving"] == "accepted copy" and flows["line"]["rejected"]
        [r] = await run_scenarios([lookup_call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.passed and r.record["flow_version"] == good


async def test_without_an_accepted_copy_a_broken_line_does_not_start(line):
    edit(line["flow"], "kind: say", "kind: speak")
    with pytest.raises(LineRejected) as err:
        async with server(line, accepted_dir=line["tmp"] / "none"):
            pass
    assert any("unknown node kind 'speak'" in e for e in err.value.errors)


def test_every_node_field_is_documented():
    """The README documents every field an administrator may write, holidays included."""
    from ivr.engine.validate import _FIELDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Flows", 1)[1].split("\n## ", 1)[0]
    missing = [f for f in _FIELDS if f not in ("kind",) and f"`{f}`" not in section]
    assert missing == []
    assert re.search(r"closed_dates.*\d{4}-\d{2}-\d{2}", section)
    json.dumps(section)  # printable
