"""`ivr flows check`: the shipped flow passes; broken copies are rejected with file:line, all errors at once."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.engine.validate import check_flows
from ivr.server.checks import offline_context

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"


@pytest.fixture(scope="module")
def ctx():
    return offline_context(ROOT / "ivr" / "prompts")


def broken(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    text = FLOW.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / "ants-3400.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_shipped_flow_is_valid(ctx):
    flows, errors = check_flows([FLOW], ctx)
    assert errors == []
    assert len(flows["ants-3400"].model.nodes) == 23


@pytest.mark.parametrize(
    "edit, needle, message",
    [
        (("kind: say", "kind: speak"), "kind: speak", "unknown node kind 'speak'"),
        (("next: question_repondue", "next: question_repondu"), "next: question_repondu", "does not exist"),
        (("prompts: [bienvenue, protection_donnees]", "prompts: [bienvenu, protection_donnees]"),
         "prompts: [bienvenu,", "prompt 'bienvenu' is not in the prompt catalog"),
        (("slot: title_type", "slot: title"), "slot: title", "unknown slot 'title'"),
        (("queue: auto\n    reason: no_file_number", "queue: accueil\n    reason: no_file_number"),
         "queue: accueil", "route target 'accueil' is not a known queue"),
        (("service: tracking", "service: suivi"), "service: suivi", "unknown lookup service 'suivi'"),
        (("start: horaires", "start: debut"), "start: debut", "start node 'debut' does not exist"),
        (("timeout: 2\n", "timeout: soon\n"), "timeout: soon", "timeout"),
        (("{value: cni, key: \"3\"", "{value: cni, key: \"33\""), "key: \"33\"", "a choice key is one of"),
        # A flow ends a call served or closed; a hand-off's or a callback's outcome is the line's to record.
        (("outcome: closed_hours", "outcome: routed"), "outcome: routed",
         "should be 'self_served' or 'closed_hours', not 'routed' (the line records the others itself)"),
        (("outcome: closed_hours", "outcome: ferme"), "outcome: ferme", "should be 'self_served' or 'closed_hours'"),
    ],
)
def test_each_broken_copy_is_rejected_at_the_right_line(tmp_path, ctx, edit, needle, message):
    path = broken(tmp_path, edit)
    flows, errors = check_flows([path], ctx)
    assert flows == {}
    expected_line = line_of(path, needle)
    hits = [e for e in errors if message in e]
    assert hits, errors
    assert any(e.startswith(f"{path}:{expected_line}:") for e in hits), (expected_line, hits)


def test_unreachable_node_and_loop_without_input(tmp_path, ctx):
    path = broken(tmp_path, ("\n  fin_servi:\n", "\n  orphelin:\n    kind: play\n    prompts: [au_revoir]\n"
                                                  "    next: boucle\n\n  boucle:\n    kind: set\n"
                                                  "    values: {x: 1}\n    next: orphelin\n\n  fin_servi:\n"))
    _, errors = check_flows([path], ctx)
    assert any(f":{line_of(path, 'orphelin:')}: node 'orphelin' is unreachable" in e for e in errors)
    assert any("loop without input" in e and "boucle" in e and "orphelin" in e for e in errors)


def test_all_errors_are_reported_at_once(tmp_path, ctx):
    path = broken(tmp_path, ("kind: say", "kind: speak"), ("slot: title_type", "slot: title"),
                  ("service: tracking", "service: suivi"))
    _, errors = check_flows([path], ctx)
    assert len(errors) >= 3
    assert all(re.match(rf"^{re.escape(str(path))}:\d+: ", e) for e in errors)


def test_yaml_syntax_error_names_the_line(tmp_path, ctx):
    path = broken(tmp_path, ("  accueil:\n    kind: play", "  accueil:\n    kind: [play"))
    _, errors = check_flows([path], ctx)
    assert len(errors) == 1 and "invalid YAML" in errors[0]
    assert re.match(rf"^{re.escape(str(path))}:\d+: ", errors[0])


def test_missing_rendered_prompt_is_an_error(tmp_path, ctx):
    ctx2 = offline_context(ROOT / "ivr" / "prompts")
    ctx2.unrendered = {"ferme"}
    _, errors = check_flows([FLOW], ctx2)
    assert any("prompt 'ferme' has no rendered WAV" in e for e in errors)


def test_cli_exit_codes_and_timing(tmp_path):
    ok = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(FLOW)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "23 nodes" in ok.stdout
    path = broken(tmp_path, ("kind: say", "kind: speak"))
    bad = subprocess.run([sys.executable, "-m", "ivr", "flows", "check", str(path)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert f"{path}:{line_of(path, 'kind: speak')}: node 'lecture_statut': unknown node kind 'speak'" in bad.stderr


@pytest.mark.parametrize("fmt, marker", [("mermaid", "flowchart TD"), ("dot", "digraph"), ("svg", "<svg")])
def test_graph_formats(fmt, marker):
    out = subprocess.run([sys.executable, "-m", "ivr", "flows", "graph", str(FLOW), "--format", fmt],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert marker in out.stdout
    # Routes and retries are drawn.
    assert "conseiller_demande" in out.stdout and "3 essais" in out.stdout.replace("\\n", "\n")
