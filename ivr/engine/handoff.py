"""The nodes that end a call in the IVR: ``route`` (to a queue, or a callback) and ``hangup``."""

from __future__ import annotations

from .. import dialplan
from ..calls.call import Call
from ..calls.outcomes import Outcome
from ..playback import play_until_key
from ..tts.sentences import callback_confirmation, say_wait_text
from .model import HangupNode, RouteNode
from .questions import QuestionLoop
from .services import EngineServices
from .template import render

__all__ = ["route", "hang_up"]


async def route(node: RouteNode, node_id: str, call: Call, services: EngineServices, questions: QuestionLoop) -> None:
    """Hand the caller to the queue routing picks: the node's prompts, the expected wait when it is
    long, a callback offer when it is very long, then the hand-off with the caller's context."""
    decision = await services.router.decide(call, node.queue, node.reason)
    call.record.rule = decision.rule
    call.record.expected_wait = decision.expected_wait
    await play_until_key(call.channel, [services.prompts.playback_path(p) for p in node.prompts], barge_in=False)
    if node.announce_wait and decision.announce_wait and decision.expected_wait is not None:
        path = await services.spoken.playback_path(say_wait_text(decision.expected_wait))
        await call.channel.stream_file(path, "")
    context = {name: render(template, call.variables, services.filters) for name, template in node.context.items()}
    if node.offer_callback and decision.offer_callback and services.callbacks is not None:
        if await questions.callback_accepted(call, node_id):
            try:
                callback_id = await services.callbacks.schedule(call.caller_number, decision, context)
            except Exception as exc:  # the store away: the caller waits in the queue instead
                call.log.warning("callback_not_booked", error=type(exc).__name__)
                await call.route(decision.queue, decision.reason, context)
                return
            call.record.slots["callback_id"] = callback_id
            path = await services.spoken.playback_path(callback_confirmation(call.caller_number))
            await call.channel.stream_file(path, "")
            call.record.queue = decision.queue
            call.finish(Outcome.CALLBACK, decision.reason)
            await dialplan.set_outcome(call.channel, Outcome.CALLBACK.value)
            await call.channel.hangup()
            return
    if decision.priority:
        context["priority"] = str(decision.priority)
    await call.route(decision.queue, decision.reason, context)


async def hang_up(node: HangupNode, call: Call, services: EngineServices) -> None:
    """Say goodbye and end the call in the IVR (self-served, closed)."""
    await play_until_key(call.channel, [services.prompts.playback_path(p) for p in node.prompts], barge_in=False)
    call.finish(Outcome(node.outcome), node.reason)
    await dialplan.set_outcome(call.channel, node.outcome)
    await call.channel.hangup()
