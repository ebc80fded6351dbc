"""``return``: the end of a subflow; the calling flow goes on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from typing_extensions import override

from .base import NodeBase

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["ReturnNode"]


class ReturnNode(NodeBase):
    """End a sub-flow: the calling flow goes on."""

    kind: Literal["return"]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        return None
