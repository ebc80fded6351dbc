"""``set``: call variables given values (a template is rendered from the others)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from typing_extensions import override

from ..defaults import Defaults
from ..template import render
from .base import Edge, Label, NodeBase, Ref, field_refs

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["SetNode"]


class SetNode(NodeBase):
    """Set flow variables."""

    kind: Literal["set"]
    values: dict[str, Any] = Field(min_length=1)
    next: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))]

    @override
    def template_refs(self) -> list[Ref]:
        return field_refs(self.values, "values")

    @override
    def sets(self) -> set[str]:
        return set(self.values)

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        filters = runner.services.filters
        for name, value in self.values.items():
            call.variables[name] = render(value, call.variables, filters) if isinstance(value, str) else value
        return self.next
