"""The store as a call uses it: never more than a moment of the caller's time.

A caller being handed to an agent waits while the IVR counts their calls of the day, and one
accepting a callback while it is booked. A database that accepts connections and never answers (a
frozen server, a lock held elsewhere) would add its whole command timeout (seconds) of silence to
every such call. So on a call's path each store operation gets ``timeout`` seconds (0.5 by default);
after ``threshold`` failures in a row the store is not asked at all for ``cooldown`` seconds, then
one call tries again. A failure is the caller's usual "the database is away" path: no priority, a
callback offer becomes a hand-off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from . import Store

__all__ = ["CallPathStore", "StoreTooSlow"]

T = TypeVar("T")


class StoreTooSlow(RuntimeError):
    """The store did not answer in a call's time (or is not asked for a while after repeated failures)."""


class CallPathStore:
    """``count_call`` and ``add_callback`` of a store, bounded in time, behind a circuit breaker."""

    def __init__(self, store: Store, *, timeout: float = 0.5, threshold: int = 3, cooldown: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.timeout = timeout
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0
        #: Operations not even tried because the breaker was open (each saved a caller the timeout).
        self.skipped = 0
        self._open_until = 0.0

    @property
    def state(self) -> str:
        """``closed`` (the store is asked), ``open`` (it is not, for now) or ``half_open`` (one call tries)."""
        if self.failures < self.threshold:
            return "closed"
        return "open" if self.clock() < self._open_until else "half_open"

    async def count_call(self, number: str, day: date) -> int:
        """Count a call, within the time allowed (:class:`~ivr.store.StoreUnavailable` past it)."""
        return await self._bounded(lambda: self.store.count_call(number, day))

    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None,
                           *, state: str = "pending") -> int:
        """Book a callback, within the time allowed."""
        return await self._bounded(lambda: self.store.add_callback(number, queue, reason, context, state=state))

    async def _bounded(self, operation: Callable[[], Awaitable[T]]) -> T:
        if self.state == "open":
            self.skipped += 1
            raise StoreTooSlow("the store failed repeatedly: not asked for now")
        try:
            result = await asyncio.wait_for(operation(), self.timeout)
        except Exception as exc:
            self.failures += 1
            if self.failures >= self.threshold:
                self._open_until = self.clock() + self.cooldown
            if isinstance(exc, asyncio.TimeoutError):
                raise StoreTooSlow(f"the store did not answer within {self.timeout:g} s") from None
            raise
        self.failures = 0
        return result
