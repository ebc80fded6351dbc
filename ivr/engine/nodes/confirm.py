"""``confirm``: a yes or a no (keys 1 and 2, or the words)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from typing_extensions import override

from ..defaults import Defaults
from ..questions import store_answer, yes_no
from .base import Edge, Label
from .question import QuestionNode

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["ConfirmNode"]


class ConfirmNode(QuestionNode):
    """Ask a yes/no question (1 or 2, « oui » or « non »)."""

    kind: Literal["confirm"]
    yes: str
    no: str
    store: str | None = None

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.YES, self.yes, ("yes",)), Edge(Label.NO, self.no, ("no",))] + self.fallback_edges(defaults)

    @override
    def sets(self) -> set[str]:
        return {self.store} if self.store else set()

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        asking = self.asking(node_id, runner.defaults, slot=runner.services.slots.get("yes_no"))
        answer, fallback = await runner.questions.ask(call, asking, yes_no)
        if answer is None:
            return fallback
        store_answer(call, self.store, answer == "yes")
        return self.yes if answer == "yes" else self.no
