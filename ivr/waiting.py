"""Waiting for a condition, never for a length of time.

The lab, the benchmarks and the tests run on machines that may be busy: a call takes as long as it
takes. Whoever needs something to have happened (a call in a node, a record written, a port open,
an agent gone) waits for exactly that, up to a deadline generous enough for a loaded machine, and
fails with what it waited for and what it saw last.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["ConditionTimeout", "DEADLINE", "STARTUP", "until", "wait_until"]

T = TypeVar("T")

#: Seconds to wait for something that normally takes well under one: generous, because a condition
#: that holds ends the wait at once and only a broken one costs the whole deadline.
DEADLINE = 60.0
#: Seconds for a process to be ready (Asterisk booted, ``ivr serve`` listening with its model loaded)
#: on a machine whose cores are all busy.
STARTUP = 180.0


class ConditionTimeout(AssertionError):
    """A condition did not hold by its deadline (an assertion failure, for pytest)."""


def _failure(what: str, timeout: float, seen: object) -> ConditionTimeout:
    return ConditionTimeout(f"waited {timeout:g} s for {what}; last seen: {seen!r}")


def wait_until(check: Callable[[], T], what: str, *, timeout: float = DEADLINE, interval: float = 0.1,
               seen: Callable[[], object] | None = None) -> T:
    """Call ``check`` until it returns something true, and return that; raise :class:`ConditionTimeout`
    after ``timeout`` seconds, naming ``what`` and the last value (or ``seen()``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(what, timeout, seen() if seen else value)
        time.sleep(interval)


@overload
async def until(check: Callable[[], Awaitable[T]], what: str, *, timeout: float = ..., interval: float = ...,
                seen: Callable[[], object] | None = ...) -> T: ...


@overload
async def until(check: Callable[[], T], what: str, *, timeout: float = ..., interval: float = ...,
                seen: Callable[[], object] | None = ...) -> T: ...


async def until(check: Callable[[], Any], what: str, *, timeout: float = DEADLINE,
                interval: float = 0.02, seen: Callable[[], object] | None = None) -> Any:
    """:func:`wait_until` for the event loop: ``check`` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _failure(what, timeout, seen() if seen else value)
        await asyncio.sleep(interval)
