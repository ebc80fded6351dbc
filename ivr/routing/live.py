"""What routing reads of the live line (implemented by the AMI controller, and by the simulator's double):
queues' load, the manager's connection, an originate; and a caller's count of the day (the store)."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

__all__ = ["QueueLoad", "QueueBoardView", "Manager", "Originated", "CallCounter", "CallbackStore"]


class QueueLoad(Protocol):
    """One queue as the manager last reported it."""

    @property
    def available(self) -> int: ...

    def expected_wait(self) -> int:
        """Seconds a new caller can expect to wait."""
        ...


class QueueBoardView(Protocol):
    def get(self, name: str) -> QueueLoad | None: ...


class Originated(Protocol):
    @property
    def success(self) -> bool: ...

    @property
    def reason(self) -> str: ...


class Manager(Protocol):
    """Asterisk's manager, as the callback dialler uses it."""

    @property
    def connected(self) -> bool: ...

    @property
    def board(self) -> QueueBoardView: ...

    async def originate(self, *, channel: str, context: str, exten: str, priority: int = 1,
                        variables: dict[str, str] | None = None, caller_id: str = "",
                        timeout: float = 45.0) -> Originated: ...


class CallCounter(Protocol):
    async def count_call(self, number: str, day: date) -> int:
        """How many times ``number`` called on ``day`` (this call included)."""
        ...


class CallbackStore(Protocol):
    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None) -> int:
        """Book a callback; its id."""
        ...
