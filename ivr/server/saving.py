"""What a node keeps in memory for a moment and saves to the store in batches, once a second: a call
never waits on the store, and a burst of events is one write."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["EverySecond"]


class EverySecond:
    """Runs :meth:`save` every ``every`` seconds from :meth:`start` until :meth:`stop`, which saves once more.
    A save that fails leaves its batch for the next one (subclasses keep what waits, bounded)."""

    every: float = 1.0
    _task: asyncio.Task[None] | None = None

    async def save(self) -> int:
        """Save what waits; how many were saved."""
        raise NotImplementedError

    def start(self) -> None:
        """Save every ``every`` seconds until :meth:`stop`."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name=type(self).__name__)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            with contextlib.suppress(Exception):  # the store away: what waits is kept for the next try
                await self.save()

    async def stop(self) -> None:
        """Stop, saving what waits (one try)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.save()
