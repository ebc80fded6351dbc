"""The per-call context a flow runs with, and the flow interface."""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Protocol

import structlog

from ..agi.session import AgiSession
from ..privacy import mask_caller
from .outcomes import QUEUES, Outcome
from .record import CallRecord

__all__ = ["Call", "Flow", "FlowResolver"]

#: What a SIP Call-ID may look like to be kept (the caller chose it; the dialplan filters it too).
_SIP_CALL_ID = re.compile(r"[A-Za-z0-9@.:_\-]{1,128}")


class Flow(Protocol):
    """Something that can run a call to its end (the flow engine implements it)."""

    name: str
    version: str

    async def run(self, call: "Call") -> None:
        """Run the call; must leave ``call.outcome`` set (or raise)."""


class FlowResolver(Protocol):
    def resolve(self, request_path: str) -> Flow | None:
        """The flow to run for an AGI request path, or None if there is none."""


class Call:
    """One call in progress: its AGI session, identity, variables and record."""

    def __init__(self, session: AgiSession, *, call_id: str | None = None, now: datetime | None = None) -> None:
        self.session = session
        self.env = session.env
        self.call_id = call_id or uuid.uuid4().hex[:16]
        self.started_monotonic = time.monotonic()
        #: Wall-clock time of the call, used by opening-hours checks (simulations may set it).
        self.now = now or datetime.now(timezone.utc)
        self.variables: dict[str, Any] = {}
        self.outcome: Outcome | None = None
        self.current_node = ""
        #: A key pressed during a prompt, kept to answer the next question.
        self.typed_ahead: str | None = None
        self.record = CallRecord(
            call_id=self.call_id,
            uniqueid=self.env.get("uniqueid"),
            request=self.env.request_path,
            channel=self.env.get("channel"),
            caller=mask_caller(self.env.get("callerid")),
            started_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            sip_call_id=_sip_call_id(self.env.named_arg("sip_call_id")),
        )
        self.log = structlog.get_logger("ivr.call").bind(call_id=self.call_id)

    @property
    def caller_number(self) -> str:
        return self.env.get("callerid")

    def visit(self, node: str) -> None:
        """Note that the call reached ``node`` (kept in the record's path)."""
        self.current_node = node
        self.record.path.append(node)

    async def route(self, queue: str, reason: str, *, outcome: Outcome | None = None, **context: str) -> None:
        """Hand the caller to ``queue``: set the channel variables the dialplan reads.

        ``context`` values are set as ``IVR_<NAME>`` variables (title, masked
        file number, status…) so the agent's screen shows them.
        """
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}; known: {', '.join(QUEUES)}")
        self.record.queue = queue
        self.record.reason = reason
        await self.session.set_variable("IVR_QUEUE", queue)
        await self.session.set_variable("IVR_REASON", reason)
        for name, value in context.items():
            if value:
                await self.session.set_variable(f"IVR_{name.upper()}", str(value))
        # Only now is the hand-off real: a hang-up before this point is the caller's.
        self.outcome = outcome or Outcome.routed(queue)
        self.log.info("call_routed", queue=queue, reason=reason, outcome=self.outcome.value)

    def finish(self, outcome: Outcome, reason: str = "") -> None:
        """Record an outcome that is not a hand-off to a queue (self-served, closed…)."""
        self.outcome = outcome
        if reason:
            self.record.reason = reason


def _sip_call_id(value: str | None) -> str:
    """The SIP Call-ID the dialplan passed (``sip_call_id=`` argument), if it looks like one."""
    return value if value and _SIP_CALL_ID.fullmatch(value) else ""
