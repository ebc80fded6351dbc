"""``play``: catalog prompts, one after the other; a key pressed stops them and is kept for the next question."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field
from typing_extensions import override

from ...playback import play_until_key
from .base import Defaults, Edge, Label, NodeBase, Ref, ref_list

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["PlayNode"]


class PlayNode(NodeBase):
    """Play catalog prompts, one after the other."""

    kind: Literal["play"]
    prompts: list[str] = Field(min_length=1)
    #: Keys stop the prompt; the key pressed is kept for the next question.
    barge_in: bool = True
    next: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))]

    @override
    def prompt_refs(self) -> list[Ref]:
        return ref_list(self.prompts, "prompts")

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        key = await play_until_key(call.channel, [runner.prompt_path(p, call) for p in self.prompts], barge_in=self.barge_in)
        if key:
            call.typed_ahead = key
        return self.next
