"""Keeps this node's calls' journeys after the IVR (:mod:`ivr.calls.journey`) in the store.

An AMI event handler (:meth:`AmiController.subscribe`): the tracker follows the queue events, and each
journey that changed waits here (one entry per call, the latest) until the next save, once a second,
so a burst of events is one write. The store away keeps them waiting, up to ``capacity`` calls (then
the oldest are dropped and counted); a call never waits on any of it. Once an hour it forgets the
journeys, and the callbacks that ended (their numbers with them), older than ``keep_days`` (35).
"""

from __future__ import annotations

import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import structlog
from typing_extensions import override

from ..calls.journey import JourneyTracker
from ..store import Store
from .saving import EverySecond

__all__ = ["JourneyKeeper"]

log = structlog.get_logger("ivr.journeys")


class JourneyKeeper(EverySecond):
    """Feeds the tracker with manager events and saves what changed (see the module)."""

    def __init__(self, tracker: JourneyTracker, store: Store, *, every: float = 1.0, capacity: int = 20_000,
                 keep_days: float = 35.0, clock: Callable[[], float] = time.time,
                 on_ended: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.tracker = tracker
        #: Told of each journey that ends (the metrics count them).
        self.on_ended = on_ended
        self.store = store
        self.every = every
        self.capacity = capacity
        self.keep_seconds = keep_days * 86400
        self.clock = clock
        self.waiting: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.saved = 0
        self.dropped = 0
        self.state = "ok"
        self._last_purge = 0.0

    def __call__(self, event: dict[str, Any]) -> None:
        """Take one manager event."""
        self._wait(self.tracker.feed(event, self.clock()))

    def _wait(self, journeys: list[Any]) -> None:
        for journey in journeys:
            kept = self.waiting[journey.uniqueid] = journey.as_dict()  # as it is now: it changes on
            self.waiting.move_to_end(journey.uniqueid)
            if journey.finished and self.on_ended is not None:
                self.on_ended(kept)
        while len(self.waiting) > self.capacity:
            self.waiting.popitem(last=False)
            self.dropped += 1
    @override
    async def save(self) -> int:
        """End what time ends (:meth:`JourneyTracker.tick`), then save what waits; how many were saved."""
        now = self.clock()
        self._wait(self.tracker.tick(now))
        batch = list(self.waiting.values())
        if batch:
            try:
                await self.store.save_journeys(batch)
            except Exception as exc:  # the store away: kept for the next try
                if self.state == "ok":
                    log.warning("journeys_not_saved", error=type(exc).__name__, waiting=len(batch))
                self.state = f"failing: {type(exc).__name__}"
                return 0
            for journey in batch:
                if self.waiting.get(journey["uniqueid"]) is journey:
                    del self.waiting[journey["uniqueid"]]
            self.saved += len(batch)
            self.state = "ok"
        if now - self._last_purge >= 3600:
            self._last_purge = now
            with contextlib.suppress(Exception):  # the next hour tries again
                await self.store.purge_journeys(now - self.keep_seconds)
                await self.store.purge_callbacks(now - self.keep_seconds)
        return len(batch)
