"""``subflow``: run another flow from its start, then go on here (unless it ended the call)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from typing_extensions import override

from ..defaults import Defaults
from .base import Checks, Edge, Label, NodeBase, hint

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["SubflowNode"]


class SubflowNode(NodeBase):
    """Run another flow, then go on."""

    kind: Literal["subflow"]
    flow: str
    next: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))]

    @override
    def check(self, checks: Checks) -> None:
        flows = checks.context.flows
        if self.flow not in flows:
            checks.problem(("flow",), f"subflow {self.flow!r} is not a known flow{hint(self.flow, flows)}")

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        await runner.run_subflow(self.flow, call)
        return None if call.outcome is not None else self.next
