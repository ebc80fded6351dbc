"""``hangup``: say goodbye and end the call in the IVR (served, or closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field
from typing_extensions import override

from ... import dialplan
from ...calls.outcomes import Outcome
from ...playback import play_until_key
from ..defaults import Defaults
from .base import NodeBase, Ref, ref_list

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["HangupNode"]


class HangupNode(NodeBase):
    """Play the goodbye prompts, record the outcome, hang up."""

    kind: Literal["hangup"]
    prompts: list[str] = Field(default_factory=list)
    outcome: Literal["self_served", "closed_hours"]
    reason: str = ""

    category: ClassVar[str] = "end"

    @override
    def prompt_refs(self) -> list[Ref]:
        return ref_list(self.prompts, "prompts")

    @override
    def summary(self, defaults: Defaults) -> list[str]:
        return [f"issue : {self.outcome}"]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        await play_until_key(call.channel, [runner.prompt_path(p) for p in self.prompts], barge_in=False)
        call.finish(Outcome(self.outcome), self.reason)
        await dialplan.set_outcome(call.channel, self.outcome)
        await call.channel.hangup()
        return None
