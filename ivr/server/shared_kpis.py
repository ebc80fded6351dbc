"""Every node's calls in this node's indicators, when several nodes share a PostgreSQL store.

The node's own calls are counted as they end; the shared records table brings the other nodes'
calls (and, after a restart, the last 7 days of every node). Rows are read again with a few seconds
of overlap, because two nodes' inserts can become visible out of order; a bounded memory of the
calls already counted keeps any call from being counted twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

import structlog

from ..admin.kpis import KEEP_SECONDS, Kpis
from ..calls.record import CallRecord
from ..store.postgres import PostgresStore

__all__ = ["SharedKpis"]

log = structlog.get_logger("ivr.server")

_FIELDS = set(CallRecord.__dataclass_fields__)


class SharedKpis:
    """A record store in front of :class:`Kpis` (this node's calls), fed the shared table's too."""

    def __init__(self, kpis: Kpis, store: PostgresStore, *, every: float = 2.0, overlap: float = 10.0,
                 remember: int = 200_000) -> None:
        self.kpis = kpis
        self.store = store
        self.every = every
        self.overlap = overlap
        self.remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._last_inserted: float | None = None
        self.state = "loading"

    def write(self, record: CallRecord) -> None:
        """Count a record (once, whichever node wrote it)."""
        if record.call_id in self._seen:
            return
        self._seen[record.call_id] = None
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)
        self.kpis.write(record)

    def close(self) -> None:
        """Nothing to release."""
        pass

    async def poll(self, limit: int = 5000) -> int:
        """Count the records inserted since the last poll (any node); returns how many were new."""
        new = 0
        while True:
            since = None if self._last_inserted is None else self._last_inserted - self.overlap
            rows = await self.store.records_since(inserted_after=since, ended_after=time.time() - KEEP_SECONDS,
                                                  limit=limit)
            for _inserted, raw in rows:
                before = len(self._seen)
                try:
                    self.write(CallRecord(**{k: v for k, v in raw.items() if k in _FIELDS}))
                except TypeError:
                    continue
                new += len(self._seen) > before
            if rows:
                self._last_inserted = max(self._last_inserted or 0.0, rows[-1][0])
            if len(rows) < limit:
                return new
            # A full page: more to read; the next page starts after this one's last insertion.
            self._last_inserted = rows[-1][0] + self.overlap

    async def run(self) -> None:
        """Poll the shared records for as long as the node runs."""
        while True:
            try:
                loaded = await self.poll()
                if self.state != "ok":
                    log.info("shared_kpis_ok", new=loaded)
                self.state = "ok"
            except Exception as exc:
                if self.state == "ok":
                    log.warning("shared_kpis_stale", error=type(exc).__name__)
                self.state = f"stale ({type(exc).__name__})"
            await asyncio.sleep(self.every)
