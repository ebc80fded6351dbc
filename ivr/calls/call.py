"""The per-call context a flow runs with, and the flow interface."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any, Protocol

import structlog

from .. import dialplan
from ..interfaces import CallerChannel
from ..privacy import mask_caller
from .outcomes import Outcome
from .record import CallRecord

__all__ = ["Call", "CallIdentity", "Flow", "FlowResolver"]


class Flow(Protocol):
    """Something that can run a call to its end (the flow engine implements it)."""

    name: str
    version: str

    async def run(self, call: "Call") -> None:
        """Run the call; must leave ``call.outcome`` set (or raise)."""


class FlowResolver(Protocol):
    """Which flow runs for an AGI request (the flow registry implements it)."""

    def resolve(self, request_path: str) -> Flow | None:
        """The flow to run for an AGI request path, or None if there is none."""


class CallIdentity(Protocol):
    """Who and what the call is, as Asterisk said when it opened the session."""

    @property
    def caller_number(self) -> str:
        """The caller's number as Asterisk gives it (empty when withheld)."""

    @property
    def caller_withheld(self) -> bool:
        """The caller's presentation is restricted or unavailable."""
        ...

    @property
    def uniqueid(self) -> str:
        """Asterisk's unique id of the caller's channel."""

    @property
    def request(self) -> str:
        """The AGI request path (the script the dialplan named)."""

    @property
    def channel(self) -> str:
        """The caller's channel name."""

    @property
    def sip_call_id(self) -> str:
        """The SIP Call-ID of the caller's call (filtered by the dialplan; empty when not given)."""


class Call:
    """One call in progress: the caller's channel, identity, flow variables and record."""

    def __init__(self, channel: CallerChannel, identity: CallIdentity, *, call_id: str | None = None,
                 now: datetime | None = None) -> None:
        self.channel = channel
        self.caller_number = identity.caller_number
        self.caller_withheld = identity.caller_withheld
        self.call_id = call_id or uuid.uuid4().hex[:16]
        self.started_monotonic = time.monotonic()
        #: Wall-clock time of the call, used by opening-hours checks (simulations may set it).
        self.now = now or datetime.now(timezone.utc)
        self.variables: dict[str, Any] = {}
        #: The answers the call gave, by slot (the file number among them: never in the record as such).
        self.answers: dict[str, Any] = {}
        self.outcome: Outcome | None = None
        self.current_node = ""
        #: A key pressed during a prompt, kept to answer the next question.
        self.typed_ahead: str | None = None
        #: The caller asked the line to speak more slowly: for the rest of the call, prompts at the slower
        #: rate and numbers read back one digit at a time.
        self.slow = False
        #: Times the caller said « je n'ai pas compris »: the second time, the line slows down too.
        self.not_understood = 0
        self.record = CallRecord(
            call_id=self.call_id,
            uniqueid=identity.uniqueid,
            request=identity.request,
            channel=identity.channel,
            caller=mask_caller(identity.caller_number),
            started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            sip_call_id=identity.sip_call_id,
            simulated_at=now.isoformat(timespec="milliseconds") if now is not None else "",
        )
        self.log = structlog.get_logger("ivr.call").bind(call_id=self.call_id)

    @property
    def outcome_text(self) -> str:
        """The outcome as recorded (``routed:contractor``…), or "" while the call runs."""
        return self.outcome.text(self.record.queue) if self.outcome is not None else ""

    def elapsed_ms(self) -> int:
        """Milliseconds since the call started (the offsets of the record's timeline)."""
        return int((time.monotonic() - self.started_monotonic) * 1000)

    def when(self) -> dict[str, int]:
        """Where an event of the record falls in the call: ``at_ms`` from the start, and ``step``, the
        index in ``path`` of the node it happened in (it orders events of the same millisecond)."""
        return {"at_ms": self.elapsed_ms(), "step": len(self.record.path) - 1}

    def visit(self, node: str) -> None:
        """Note that the call reached ``node`` (kept in the record's path, with when, for the timeline)."""
        self.current_node = node
        self.record.path.append(node)
        self.record.path_ms.append(self.elapsed_ms())

    async def route(self, queue: str, reason: str, context: dict[str, str] | None = None, *,
                    outcome: Outcome = Outcome.ROUTED) -> None:
        """Hand the caller to ``queue`` (the dialplan queues them when the AGI returns).

        ``context`` values (title, masked file number, status…) go to the agent's screen.
        """
        self.record.queue = queue
        self.record.reason = reason
        await dialplan.hand_off(self.channel, queue, reason, context)
        # Only now is the hand-off real: a hang-up before this point is the caller's.
        self.outcome = outcome
        self.log.info("call_routed", queue=queue, reason=reason, outcome=self.outcome_text)

    def finish(self, outcome: Outcome, reason: str = "") -> None:
        """Record an outcome that is not a hand-off to a queue (self-served, closed…)."""
        self.outcome = outcome
        if reason:
            self.record.reason = reason
