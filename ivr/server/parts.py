"""The parts of a running server, stopped in the reverse order they started, every one of them.

A part that fails to stop is logged and the others are stopped all the same: a database that hangs
up badly must not leave the AGI port open or a Vosk model loaded.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

__all__ = ["PartStack"]

log = structlog.get_logger("ivr.server")

#: How a part stops: a function or a coroutine function, without arguments.
Stop = Callable[[], Awaitable[Any] | Any]


@dataclass
class PartStack:
    """Parts as they start (:meth:`started`); :meth:`stop_all` stops them last first."""

    _parts: list[tuple[str, Stop]] = field(default_factory=list)

    def started(self, name: str, stop: Stop) -> None:
        """``name`` is running; ``stop`` stops it."""
        self._parts.append((name, stop))

    @property
    def names(self) -> list[str]:
        """The running parts, in the order they started."""
        return [name for name, _ in self._parts]

    async def stop_all(self) -> list[str]:
        """Stop every part, the last started first; returns the names of those that failed to stop."""
        failed = []
        while self._parts:
            name, stop = self._parts.pop()
            try:
                result = stop()
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                failed.append(name)
                log.error("part_stop_failed", part=name, error=f"{type(exc).__name__}: {exc}")
        return failed
