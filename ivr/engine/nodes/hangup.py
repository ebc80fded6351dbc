"""``hangup``: say goodbye and end the call in the IVR (served, or closed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator
from typing_extensions import override

from ... import dialplan
from ...calls.outcomes import Outcome
from ...playback import play_until_key
from ..defaults import Defaults
from .base import Checks, NodeBase, Ref, ref_list

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["HangupNode", "ENDS_IN_THE_IVR"]

#: The outcomes a flow may end a call with (the others are the line's: a hand-off, a callback, a hang-up).
ENDS_IN_THE_IVR = (Outcome.SELF_SERVED, Outcome.CLOSED_HOURS)


class HangupNode(NodeBase):
    """Play the goodbye prompts, record the outcome, hang up."""

    kind: Literal["hangup"]
    prompts: list[str] = Field(default_factory=list)
    #: How the call ends: served by the IVR, or the line closed.
    outcome: Outcome
    reason: str = ""

    category: ClassVar[str] = "end"

    @field_validator("outcome", mode="before")
    @classmethod
    def _ends_in_the_ivr(cls, outcome: object) -> object:
        allowed = [o.value for o in ENDS_IN_THE_IVR]
        if outcome not in allowed:
            hint = " (the line records the others itself)" if outcome in {o.value for o in Outcome} else ""
            raise ValueError(f"should be {' or '.join(map(repr, allowed))}, not {outcome!r}{hint}")
        return outcome

    @override
    def prompt_refs(self) -> list[Ref]:
        return ref_list(self.prompts, "prompts")

    @override
    def ends_as(self) -> str | None:
        return self.outcome.value

    @override
    def check(self, checks: Checks) -> None:
        if not self.prompts:  # a caller hung up on without a word thinks the line broke
            checks.problem(("outcome",), f"the call ends here ({self.outcome.value}) without a word to the caller: "
                                         f"give it prompts (e.g. [{'ferme' if self.outcome is Outcome.CLOSED_HOURS else 'au_revoir'}])")

    @override
    def summary(self, defaults: Defaults) -> list[str]:
        return [f"issue : {self.outcome.value}"]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        await play_until_key(call.channel, [runner.prompt_path(p, call) for p in self.prompts], barge_in=False)
        call.finish(self.outcome, self.reason)
        await dialplan.set_outcome(call.channel, self.outcome.value)
        await call.channel.hangup()
        return None
