"""The figures read from the store: what happens after the IVR (:mod:`ivr.admin.queue_kpis`) and
« once and done » (:func:`once_and_done`).

Journeys, callbacks and contacts are in the store, shared by every node with PostgreSQL: each node
reads them every ``every`` seconds (not at each page view) and the indicators take them from here.
While the store is away the last figures stay, and ``state`` says they are stale.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog

from ..admin.kpis import KEEP_SECONDS
from ..admin.queue_kpis import callback_figures, queue_figures, queue_figures_by_segment
from ..store import Store
from .contacts import CALLER, FILE

__all__ = ["AfterIvr", "once_and_done"]

log = structlog.get_logger("ivr.server")

#: How far the store's clock (the database server's, which stamps each journey saved) may be from ours:
#: the journeys saved that long before our last read are read again.
CLOCK_MARGIN = 60.0
#: Every journey of the 7 days is read again this often (what a read of the changes could miss: a clock
#: further off than the margin).
FULL_READ_EVERY = 600.0


class AfterIvr:
    """The journeys and callbacks of the last 7 days, as the indicators read them."""

    def __init__(self, store: Store, *, queues: Callable[[], Iterable[str]], service_level_s: int,
                 once_and_done_days: int = 7, windows: Callable[[], Mapping[str, float]] = dict,
                 on_once_and_done: Callable[[dict[str, float | None]], None] | None = None,
                 every: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        #: Told the last 7 days' judged « once and done » shares by kind after each refresh (the metrics).
        self.on_once_and_done = on_once_and_done
        self.store = store
        self.queues = queues
        self.service_level_s = service_level_s
        self.days = once_and_done_days
        #: The indicators' windows, by name, and when each starts now.
        self.windows = windows
        self.once: dict[str, dict[str, Any]] = {}
        self.every = every
        self.clock = clock
        #: The journeys of the last 7 days, by channel (read whole now and then, else only what changed).
        self.by_channel: dict[str, dict[str, Any]] = {}
        self._read_at: float | None = None
        self._full_read_at = 0.0
        self.callbacks: list[tuple[float, str]] = []
        self.state = "loading"

    def figures(self, window: str, since: float) -> dict[str, Any]:
        """The queues' and callbacks' figures for the journeys and callbacks that began at ``since`` or later,
        and the window's « once and done » (as last read)."""
        journeys = self.journeys
        return {"queues": queue_figures(journeys, since=since, service_level_s=self.service_level_s,
                                        queues=self.queues()),
                "queues_by_segment": queue_figures_by_segment(journeys, since=since,
                                                              service_level_s=self.service_level_s),
                "callback_success": callback_figures(self.callbacks, since=since),
                "once_and_done": self.once.get(window)}

    @property
    def journeys(self) -> list[dict[str, Any]]:
        """The journeys of the last 7 days, as last read."""
        return list(self.by_channel.values())

    async def refresh(self) -> None:
        """Read the last 7 days again."""
        now = self.clock()
        since = now - KEEP_SECONDS
        await self._read_journeys(since, now)
        self.callbacks = [(c.created_at, c.state) for c in await self.store.callbacks(booked_since=since)]
        self.once = {name: await once_and_done(self.store, start, now, self.days)
                     for name, start in self.windows().items()}
        week = self.once.get("last_7_days")
        if week is not None and self.on_once_and_done is not None:
            self.on_once_and_done({kind: week["judged"][kind]["once_and_done"] for kind in (CALLER, FILE)})

    async def _read_journeys(self, since: float, now: float) -> None:
        """Read the journeys of the 7 days whole every :data:`FULL_READ_EVERY` seconds, else those changed
        since the last read (with :data:`CLOCK_MARGIN`), forgetting those now older than the 7 days."""
        if self._read_at is None or now - self._full_read_at >= FULL_READ_EVERY:
            rows = await self.store.journeys_since(since)
            self.by_channel = {}
            self._full_read_at = now
        else:
            rows = await self.store.journeys_since(since, changed_after=self._read_at - CLOCK_MARGIN)
            self.by_channel = {u: j for u, j in self.by_channel.items() if float(j.get("joined_at") or 0) > since}
        self.by_channel.update((str(j.get("uniqueid")), j) for j in rows)
        self._read_at = now

    async def run(self) -> None:
        """Refresh for as long as the node runs."""
        while True:
            try:
                await self.refresh()
                self.state = "ok"
            except Exception as exc:  # the store away: the last figures stay, marked stale
                if self.state == "ok":
                    log.warning("after_ivr_figures_stale", error=type(exc).__name__)
                self.state = f"stale ({type(exc).__name__})"
            await asyncio.sleep(self.every)


async def once_and_done(store: Store, start: float, end: float, days: int) -> dict[str, Any]:
    """« Once and done » for the window [start, end): the share of callers (and of files) who did not call
    again within ``days`` days, per segment too.

    ``judged``: the calls of the same window ``days`` days earlier, whose follow-up time is over: the
    figure to report. ``so_far``: the window's own calls, not called again yet (it can only fall)."""
    shift = days * 86400
    figures: dict[str, Any] = {"days": days}
    for label, (a, b) in (("judged", (start - shift, end - shift)), ("so_far", (start, end))):
        figures[label] = {kind: _shares(await store.once_and_done(kind, a, b, days)) for kind in (CALLER, FILE)}
    return figures


def _shares(per_segment: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
    def share(calls: int, repeated: int) -> dict[str, Any]:
        return {"calls": calls, "called_again": repeated,
                "once_and_done": round((calls - repeated) / calls, 4) if calls else None}

    total = (sum(c for c, _ in per_segment.values()), sum(r for _, r in per_segment.values()))
    return {**share(*total), "by_segment": {seg or "-": share(*counts) for seg, counts in sorted(per_segment.items())}}
