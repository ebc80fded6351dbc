"""A node kind is one unit: a test-only kind, added the way the README says (one module's worth of
code, one registration), is checked by `ivr flows check` and runs on a call like a shipped one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from ivr.engine.defaults import Defaults
from ivr.engine.kinds import KINDS
from ivr.engine.nodes.base import Checks, Edge, Label, NodeBase
from ivr.engine.validate import check_flows
from ivr.server.checks import offline_context
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from tests.clocks import OPEN

if TYPE_CHECKING:
    from ivr.calls.call import Call
    from ivr.engine.nodes.runner import Runner

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"


class TallyNode(NodeBase):
    """Test double: a kind that counts the times a call passes through it in a call variable."""

    kind: Literal["tally_test"]
    var: str
    next: str

    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))]

    def sets(self) -> set[str]:
        return {self.var}

    def check(self, checks: Checks) -> None:
        if not self.var.isidentifier():
            checks.problem(("var",), f"{self.var!r} is not a variable name")

    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        call.variables[self.var] = int(call.variables.get(self.var) or 0) + 1
        return self.next


@pytest.fixture
def tally():
    with KINDS.registered(TallyNode) as kind:
        yield kind


def _flow_with_tally(folder: Path, node: str) -> Path:
    """The shipped flow with a tally node first (``node``: its YAML body), and a branch on its count."""
    text = FLOW.read_text(encoding="utf-8").replace("start: horaires", "start: compte", 1)
    text = text.replace("nodes:\n", f"nodes:\n  compte:\n{node}\n  deja_vu:\n    kind: branch\n"
                                    f"    cases: [{{var: visites, equals: 2, next: conseiller_demande}}]\n"
                                    f"    default: horaires\n", 1)
    folder.mkdir(exist_ok=True)
    path = folder / FLOW.name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_registered_kind_is_checked_like_a_shipped_one(tally, tmp_path):
    ctx = offline_context(ROOT / "ivr" / "prompts")
    good = _flow_with_tally(tmp_path / "good", "    kind: tally_test\n    var: visites\n    next: deja_vu")
    loaded, errors = check_flows([good], ctx)
    assert errors == [] and isinstance(loaded["ants-3400"].model.nodes["compte"], TallyNode)
    # Its own check, a misspelt field, a target that does not exist: each at its line.
    bad = _flow_with_tally(tmp_path / "bad", "    kind: tally_test\n    var: deux mots\n    next: dejavu")
    _, errors = check_flows([bad], ctx)
    assert any(re.search(r":2\d: node 'compte': 'deux mots' is not a variable name", e) for e in errors), errors
    assert any("node 'compte': next leads to 'dejavu', which does not exist (did you mean 'deja_vu'?)" in e
               for e in errors), errors
    misspelt = _flow_with_tally(tmp_path / "misspelt", "    kind: tally_test\n    vra: visites\n    next: deja_vu")
    _, errors = check_flows([misspelt], ctx)
    assert any("unknown field 'vra' (did you mean 'var'?)" in e for e in errors), errors


def test_without_its_registration_the_kind_is_refused(tmp_path):
    path = _flow_with_tally(tmp_path, "    kind: tally_test\n    var: visites\n    next: deja_vu")
    _, errors = check_flows([path], offline_context(ROOT / "ivr" / "prompts"))
    assert any("unknown node kind 'tally_test'" in e for e in errors), errors


async def test_a_registered_kind_runs_on_a_call(tally, tmp_path):
    flows = _flow_with_tally(tmp_path / "flows", "    kind: tally_test\n    var: visites\n    next: deja_vu").parent
    no_number = Scenario.model_validate({"name": "t", "call": {"at": OPEN},
                                         "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}]})
    async with embedded_server(flows_dir=flows) as srv:
        [result] = await run_scenarios([no_number], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert result.record["path"][:4] == ["answer", "compte", "deja_vu", "horaires"]
    assert result.outcome == "routed:contractor"  # counted once: the branch let the call on to the menu
