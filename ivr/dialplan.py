"""The contract with the dialplan (``asterisk/etc/extensions.conf``): the channel variables the IVR sets.

After the AGI returns, ``[ivr-3400]`` reads ``IVR_OUTCOME`` (the call ended in the IVR) or queues the
caller in ``IVR_QUEUE`` (``QUEUE_PRIO`` from ``IVR_PRIORITY``) with the context the IVR collected
(``IVR_REASON``, ``IVR_TITLE``, ``IVR_FILE``, ``IVR_STATUS``…) passed on to the agent's channel. A
callback is originated into ``[ivr-callback]`` with the same variables. A caller waiting in a queue
who presses * reaches ``[ivr-queue-leave]``, which asks the IVR (request ``keep-turn``) for a callback
that keeps their place: a placeholder is originated into ``[ivr-turn-hold]`` (it waits in the queue
at that place) and, when an agent takes it, its other half runs ``[ivr-turn-call]`` (it calls the
caller). This module is the only place that writes these variables and names these contexts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .interfaces import CallerChannel

__all__ = ["QUEUE", "REASON", "OUTCOME", "PRIORITY", "CALLBACK_ID", "NODE", "FIXED_VARIABLES", "context_variable", "is_context_name",
           "hand_off", "set_outcome", "callback_variables", "take_call", "KEEP_TURN_REQUEST", "TURN_HOLDER_CHANNEL",
           "TURN_CALL_CONTEXT", "turn_variables"]

QUEUE = "IVR_QUEUE"
REASON = "IVR_REASON"
OUTCOME = "IVR_OUTCOME"
#: The caller's priority in the queue (``QUEUE_PRIO``); a context value of the routing decision.
PRIORITY = "IVR_PRIORITY"
CALLBACK_ID = "IVR_CALLBACK_ID"
#: The node that took the call (several nodes): once set, the dialplan does not offer the call to
#: another node, whatever happens to this one (its safety net queues the caller).
NODE = "IVR_NODE"

#: The AGI request ``[ivr-queue-leave]`` makes (arguments ``queue``, ``position`` and ``priority``).
KEEP_TURN_REQUEST = "keep-turn"
#: The placeholder that keeps a turn: its dialplan half waits in the queue at the caller's place…
TURN_HOLDER_CHANNEL = "Local/hold@ivr-turn-hold"
#: …and its other half, once an agent has taken it, calls the caller here.
TURN_CALL_CONTEXT = "ivr-turn-call"
#: The number the turn's call dials (validated by the IVR; the dialplan filters it again).
TURN_NUMBER = "IVR_CALLBACK_NUMBER"
#: The place a kept turn's placeholder takes in the queue.
TURN_POSITION = "IVR_POSITION"
#: Every variable with a fixed name the IVR sets (context variables are ``IVR_<NAME>``).
FIXED_VARIABLES = (QUEUE, REASON, OUTCOME, PRIORITY, CALLBACK_ID, NODE, TURN_NUMBER, TURN_POSITION)

#: A queue or a context name: plain words only (they become dialplan values and variable names).
_TOKEN = re.compile(r"[a-z][a-z0-9_]{0,31}")


def is_context_name(name: str) -> bool:
    """Whether ``name`` can be a context value's name (it becomes part of a variable name)."""
    return _TOKEN.fullmatch(name) is not None


def context_variable(name: str) -> str:
    """``title`` → ``IVR_TITLE``: the channel variable of a context value."""
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"context name {name!r}: lowercase letters, digits and _ only")
    return f"IVR_{name.upper()}"


async def hand_off(channel: CallerChannel, queue: str, reason: str, context: Mapping[str, str] | None = None) -> None:
    """Tell the dialplan to queue the caller in ``queue``: ``IVR_QUEUE``, ``IVR_REASON`` and one
    ``IVR_<NAME>`` per non-empty context value (the agent's screen shows them)."""
    if not _TOKEN.fullmatch(queue):
        raise ValueError(f"queue name {queue!r}: lowercase letters, digits and _ only")
    await channel.set_variable(QUEUE, queue)
    await channel.set_variable(REASON, reason)
    for name, value in (context or {}).items():
        if value:
            await channel.set_variable(context_variable(name), str(value))


async def take_call(channel: CallerChannel, node: str) -> None:
    """Tell the dialplan this node has the call (``IVR_NODE``): no fail-over to another node after this."""
    if not _TOKEN.fullmatch(node.lower().replace("-", "_")):
        raise ValueError(f"node name {node!r}: letters, digits, - and _ only")
    await channel.set_variable(NODE, node)


async def set_outcome(channel: CallerChannel, outcome: str) -> None:
    """Tell the dialplan how the call ended (``self_served``, ``closed_hours`` and ``callback`` are not queued)."""
    await channel.set_variable(OUTCOME, outcome)


def callback_variables(queue: str, callback_id: int, context: Mapping[str, str]) -> dict[str, str]:
    """The variables an originated callback carries into ``[ivr-callback]``."""
    variables = {QUEUE: queue, REASON: "callback", CALLBACK_ID: str(callback_id)}
    for name, value in context.items():
        if value and name != "reason":
            variables[context_variable(name)] = str(value)
    return variables


def turn_variables(queue: str, position: int, priority: int, callback_id: int, number: str) -> dict[str, str]:
    """The variables a kept turn's placeholder carries into ``[ivr-turn-hold]`` (the caller's place and
    priority in the queue) and ``[ivr-turn-call]`` (whom to call)."""
    return {QUEUE: queue, TURN_POSITION: str(position), PRIORITY: str(priority), CALLBACK_ID: str(callback_id),
            TURN_NUMBER: number, REASON: "callback"}
