"""Call records into the shared database, without ever holding a call up.

``write`` only queues the record (a call ends at once); a task sends the queue in batches. While
the database is away the queue keeps the records, up to ``capacity`` (then the oldest are dropped
from the queue and counted: they are still in the node's JSON Lines file, and a restart sends the
file's recent records again). Re-sending is harmless: a call already there is left as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import structlog

from ..calls.record import CallRecord

__all__ = ["SharedRecords", "RecordTable"]

log = structlog.get_logger("ivr.store")


class RecordTable(Protocol):
    """Where shared call records are inserted (the PostgreSQL store)."""

    async def insert_records(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> int:
        """Insert ``(call_id, node, ended_at, record)`` rows; how many were new."""


class SharedRecords:
    """A record store (``write``/``close``) that forwards records to a :class:`RecordTable`."""

    def __init__(self, table: RecordTable, node: str, *, capacity: int = 20_000, batch: int = 200,
                 retry: float = 1.0, max_retry: float = 15.0) -> None:
        self.table = table
        self.node = node
        self.capacity = capacity
        self.batch = batch
        self.retry, self.max_retry = retry, max_retry
        self.queue: deque[tuple[str, str, str, dict[str, Any]]] = deque()
        self.dropped = 0
        self.sent = 0
        #: ``ok``, or why the last send failed (the database away).
        self.state = "ok"
        self.failing_since: float | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def write(self, record: CallRecord) -> None:
        """Queue the record for the database (the call does not wait)."""
        self._queue(record.call_id, record.ended_at or record.started_at, asdict(record), node=record.node)

    def _queue(self, call_id: str, ended: str, record: dict[str, Any], node: str = "") -> None:
        if len(self.queue) >= self.capacity:
            self.queue.popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("records_queue_full", dropped=self.dropped, capacity=self.capacity,
                          hint="they are in the node's records file; a restart sends its recent ones again")
        # A record names its node (this one; or a dead one, for the calls it left: server/lost_calls.py).
        self.queue.append((call_id, node or self.node, ended, record))
        self._wake.set()

    def close(self) -> None:
        """Nothing here: :meth:`stop` sends what is queued."""
        pass  # the task is stopped (with a last flush) by stop()

    def start(self) -> None:
        """Start sending queued records in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self, flush_timeout: float = 3.0) -> None:
        """Stop sending, after a last flush of at most ``flush_timeout`` seconds."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), flush_timeout)

    async def flush(self) -> int:
        """Send everything queued now; returns how many were sent (raises when the database fails)."""
        sent = 0
        while self.queue:
            rows = [self.queue[i] for i in range(min(self.batch, len(self.queue)))]
            await self.table.insert_records(rows)
            for _ in rows:
                self.queue.popleft()
            sent += len(rows)
            self.sent += len(rows)
        return sent

    async def _run(self) -> None:
        delay = self.retry
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                if self.state == "ok":
                    log.warning("records_not_sent", error=type(exc).__name__, queued=len(self.queue))
                    self.failing_since = time.monotonic()
                self.state = f"database away ({type(exc).__name__})"
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry)
                self._wake.set()
                continue
            if self.state != "ok":
                log.info("records_sent_again", after_s=round(time.monotonic() - (self.failing_since or 0), 1))
            self.state, self.failing_since, delay = "ok", None, self.retry

    def resend_file(self, path: Path, *, hours: float = 24.0, max_bytes: int = 32 << 20) -> int:
        """Queue the records this node wrote to its JSON Lines file in the last ``hours`` (a crash may
        have left some unsent); returns how many were queued."""
        if not path.exists():
            return 0
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        size = path.stat().st_size
        count = 0
        with open(path, "rb") as f:
            if size > max_bytes:
                f.seek(size - max_bytes)
                f.readline()
            for line in f:
                try:
                    raw = json.loads(line)
                    ended = raw.get("ended_at") or raw["started_at"]
                    if datetime.fromisoformat(ended) < since:
                        continue
                except (ValueError, KeyError, TypeError):
                    continue
                self._queue(raw["call_id"], ended, raw)
                count += 1
        return count
