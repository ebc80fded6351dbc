"""Records for the calls a dead node could not record itself.

When a node dies (``kill -9``, a crash, its machine gone) in the middle of calls, Asterisk's
dialplan safety net puts those callers in the contractor queue, but the node's records of them
are gone with it. The nodes still alive see each such caller join the queue (AMI
``QueueCallerJoin``) with ``IVR_NODE`` set (a node took the call) and ``IVR_QUEUE`` empty (no
node decided where it goes). After a few seconds, unless the node that had the call recorded it
after all (it was alive, only its connection to Asterisk broke), they record it as
``error_routed``, reason ``node_lost``, in the shared store. Every node alive writes the same
record under the same id, so the store keeps one.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import structlog

from ..calls.outcomes import Outcome
from ..calls.record import CallRecord, RecordStore
from ..edges.ami.protocol import channel_variables
from ..privacy import mask_caller

__all__ = ["LostCallWitness"]

log = structlog.get_logger("ivr.server")

#: Ids of these records: the same on every node for one Asterisk call (uuid5 of its Uniqueid).
_IDS = uuid.UUID("4b1d1b6e-3400-4c5e-9d1a-6f2f0e1c3400")

#: Longest field kept from an event (Asterisk's own names are far shorter).
_MAX_FIELD = 128
#: What a real event of a lost call holds: a node name as IVR_NODE_NAME allows, Asterisk's channel id, a
#: queue name, and a SIP Call-ID as the dialplan filters it (or none).
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_UNIQUEID = re.compile(r"\d{1,15}\.\d{1,10}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SIP_CALL_ID = re.compile(r"[A-Za-z0-9@.:_-]{0,128}")


class LostCallWitness:
    """An AMI event handler (:meth:`AmiController.subscribe`) writing ``node_lost`` records to ``sink``.

    ``recorded(uniqueid)`` says whether some node recorded that call already; it is asked ``settle``
    seconds after the caller joined the queue. At most ``max_pending`` calls wait at once (beyond,
    the record is written at once).
    """

    def __init__(self, node: str, sink: RecordStore, recorded: Callable[[str], Awaitable[bool]], *,
                 in_queue: Callable[[str, str], Awaitable[bool]] | None = None,
                 settle: float = 10.0, max_pending: int = 256) -> None:
        self.node = node
        self.sink = sink
        self.recorded = recorded
        #: ``in_queue(queue, uniqueid)``: Asterisk lists that caller in that queue now (QueueStatus).
        self.in_queue = in_queue
        self.settle = settle
        self.max_pending = max_pending
        self.written = 0
        self.refused = 0
        self._pending: set[asyncio.Task[None]] = set()
        #: Callers seen leaving a queue lately (a caller may leave before Asterisk is asked about them).
        self._left: deque[str] = deque(maxlen=4096)

    @property
    def pending(self) -> int:
        """Lost calls waiting for their settling time."""
        return len(self._pending)

    def __call__(self, event: dict[str, Any]) -> None:
        """Take one manager event."""
        if event.get("Event") == "QueueCallerLeave":
            self._left.append(str(event.get("Uniqueid", "")))
        record = self.lost_call(event)
        if record is None:
            return
        if len(self._pending) >= self.max_pending:
            self._write(record)
            return
        task = asyncio.get_running_loop().create_task(self._after_settling(record))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def lost_call(self, event: dict[str, Any]) -> CallRecord | None:
        """The record of a call another node took and left undecided; None for any other event."""
        if event.get("Event") != "QueueCallerJoin":
            return None
        variables = channel_variables(event)
        owner = variables.get("IVR_NODE", "")
        if not owner or variables.get("IVR_QUEUE") or owner == self.node:
            # No node took it (all down: nobody to stand in for), a node decided (its own record), or it
            # was this node's call (this node records its own calls, whatever happened to them).
            return None
        uniqueid = str(event.get("Uniqueid", ""))
        sip_call_id = variables.get("IVR_SIP_CALL_ID", "")
        if not (_NODE_NAME.fullmatch(owner) and _UNIQUEID.fullmatch(uniqueid)
                and _QUEUE.fullmatch(str(event.get("Queue", ""))) and _SIP_CALL_ID.fullmatch(sip_call_id)):
            self.refused += 1
            log.warning("lost_call_refused", why="not what Asterisk and the nodes write")
            return None
        now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        return CallRecord(
            call_id=uuid.uuid5(_IDS, uniqueid).hex[:16], uniqueid=uniqueid, request="",
            channel=str(event.get("Channel", ""))[:_MAX_FIELD],
            caller=mask_caller(str(event.get("CallerIDNum", ""))[:32]), started_at=now, ended_at=now,
            outcome=Outcome.ERROR_ROUTED.text(), queue=str(event.get("Queue", ""))[:64], reason="node_lost",
            error=f"node {owner} stopped during the call; the dialplan's safety net queued the caller",
            sip_call_id=sip_call_id, node=owner)

    async def _after_settling(self, record: CallRecord) -> None:
        if not await self._in_queue(record):
            self.refused += 1
            log.warning("lost_call_refused", why="Asterisk does not list that caller in the queue",
                        uniqueid=record.uniqueid)
            return
        await asyncio.sleep(self.settle)
        try:
            if await self.recorded(record.uniqueid):
                return
        except Exception as exc:  # the store away: better a record twice than a call without one
            log.warning("lost_call_check_failed", error=type(exc).__name__)
        self._write(record)

    async def _in_queue(self, record: CallRecord) -> bool:
        """The caller the event names is (or just was) in the queue: the event is Asterisk's, not a forgery."""
        if self.in_queue is None or record.uniqueid in self._left:
            return True
        try:
            return await self.in_queue(record.queue, record.uniqueid) or record.uniqueid in self._left
        except Exception as exc:  # Asterisk cannot be asked now: better a record than a call without one
            log.warning("lost_call_check_failed", error=type(exc).__name__)
            return True

    def _write(self, record: CallRecord) -> None:
        self.sink.write(record)
        self.written += 1
        log.warning("call_of_lost_node", node_lost=record.node, uniqueid=record.uniqueid, queue=record.queue,
                    caller=record.caller)

    async def stop(self) -> None:
        """Forget the calls still settling (shutting down: the other nodes record them)."""
        for task in list(self._pending):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
