"""``route``: hand the caller to a queue — the expected wait said when it is long, a callback offered
when it is very long — with the caller's context for the agent's screen."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field
from typing_extensions import override

from ... import dialplan
from ...calls.outcomes import Outcome
from ...playback import play_until_key
from ...tts.sentences import callback_confirmation, say_wait_text
from ..defaults import Defaults
from ..questions import CALLBACK_OFFER
from ..template import render
from .base import Checks, NodeBase, Ref, field_refs, hint, ref_list

if TYPE_CHECKING:
    from ...calls.call import Call
    from ...interfaces import Decision
    from .runner import Runner

__all__ = ["RouteNode"]


class RouteNode(NodeBase):
    """Hand the caller to a queue (or offer a callback), as the routing rules decide."""

    kind: Literal["route"]
    #: ``inhouse``, ``contractor`` or ``auto`` (the routing rules decide).
    queue: str
    reason: str
    prompts: list[str] = Field(default_factory=list)
    #: Call variables passed to the agent's screen as IVR_<NAME> channel variables.
    context: dict[str, str] = Field(default_factory=dict)
    #: Announce the estimated wait (from live queue state) when it is long.
    announce_wait: bool = True
    #: Offer a callback when the wait is very long (and the caller's number is known).
    offer_callback: bool = True

    category: ClassVar[str] = "agent"

    @override
    def prompt_refs(self) -> list[Ref]:
        # The callback offer is asked with the engine's own prompts: checked here, where it is turned on.
        offer = [Ref(p, ("offer_callback",)) for p in CALLBACK_OFFER] if self.offer_callback else []
        return ref_list(self.prompts, "prompts") + offer

    @override
    def template_refs(self) -> list[Ref]:
        return field_refs(self.context, "context")

    @override
    def check(self, checks: Checks) -> None:
        queues = checks.context.queues
        if self.queue not in queues:
            checks.problem(("queue",), f"route target {self.queue!r} is not a known queue{hint(self.queue, queues)} "
                                       f"({', '.join(queues)})")
        forwarded = checks.context.forwarded
        for name in self.context:
            variable = dialplan.context_variable(name) if dialplan.is_context_name(name) else None
            if variable is None:
                checks.problem(("context", name), f"context name {name!r}: lowercase letters, digits and _ only "
                                                  f"(it becomes a channel variable)")
            elif forwarded is not None and variable not in forwarded:
                checks.problem(("context", name), f"the dialplan does not pass {variable} on to the agent's channel, "
                                                  f"so {name!r} would never reach the agent's screen (it passes "
                                                  f"{', '.join(sorted(forwarded)) or 'nothing'}): add "
                                                  f"Set(__{variable}=${{{variable}}}) to the dialplan, or remove it")

    @override
    def routing_reasons(self) -> set[str]:
        return {self.reason}

    @override
    def summary(self, defaults: Defaults) -> list[str]:
        return [f"→ file {self.queue} ({self.reason})"]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        services = runner.services
        decision = await services.router.decide(call, self.queue, self.reason)
        call.record.rule = decision.rule
        call.record.expected_wait = decision.expected_wait
        await play_until_key(call.channel, [runner.prompt_path(p, call) for p in self.prompts], barge_in=False)
        if self.announce_wait and decision.announce_wait and decision.expected_wait is not None:
            path = await services.spoken.playback_path(say_wait_text(decision.expected_wait), slow=call.slow)
            await call.channel.stream_file(path, "")
        context = {name: render(template, call.variables, services.filters) for name, template in self.context.items()}
        if self.offer_callback and decision.offer_callback and services.callbacks is not None:
            if await runner.questions.callback_accepted(call, node_id) and await _book_callback(call, runner, decision,
                                                                                                 context):
                return None
        if decision.priority:
            context["priority"] = str(decision.priority)
        await call.route(decision.queue, decision.reason, context)
        return None


async def _book_callback(call: Call, runner: Runner, decision: Decision, context: dict[str, str]) -> bool:
    """Book the callback the caller accepted, confirm it and end the call; False when the store is away
    (the caller then waits in the queue)."""
    services = runner.services
    assert services.callbacks is not None
    try:
        callback_id = await services.callbacks.schedule(call.caller_number, decision, context)
    except Exception as exc:  # the store away: the caller waits in the queue instead
        call.log.warning("callback_not_booked", error=type(exc).__name__)
        return False
    call.record.slots["callback_id"] = callback_id
    path = await services.spoken.playback_path(callback_confirmation(call.caller_number), slow=call.slow)
    await call.channel.stream_file(path, "")
    call.record.queue = decision.queue
    call.finish(Outcome.CALLBACK, decision.reason)
    await dialplan.set_outcome(call.channel, Outcome.CALLBACK.value)
    await call.channel.hangup()
    return True
