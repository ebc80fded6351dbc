"""What routing reads of the live line (implemented by the AMI controller, and by the simulator's double):
queues' load, the manager's connection, an originate; and a caller's count of the day (the store)."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

__all__ = ["QueueLoad", "QueueBoardView", "Manager", "Originated", "CallCounter", "CallbackStore"]


class QueueLoad(Protocol):
    """One queue as the manager last reported it."""

    @property
    def available(self) -> int:
        """Agents free to take a call now."""

    def expected_wait(self) -> int:
        """Seconds a new caller can expect to wait."""
        ...


class QueueBoardView(Protocol):
    """The queues as the manager reports them."""

    def get(self, name: str) -> QueueLoad | None:
        """The queue ``name``, or None if unknown."""


class Originated(Protocol):
    """What an Originate gave."""

    @property
    def success(self) -> bool:
        """Whether the called party answered."""

    @property
    def reason(self) -> str:
        """Why not, when not."""


class Manager(Protocol):
    """Asterisk's manager, as the callback dialler uses it."""

    @property
    def connected(self) -> bool:
        """Whether the manager connection is up."""

    @property
    def board(self) -> QueueBoardView:
        """The queues' live state."""

    async def originate(self, *, channel: str, context: str, exten: str, priority: int = 1,
                        variables: dict[str, str] | None = None, caller_id: str = "",
                        timeout: float = 45.0) -> Originated:
        """Place a call from ``channel`` into the dialplan (a callback)."""


class CallCounter(Protocol):
    """Counts each caller's calls per day."""

    async def count_call(self, number: str, day: date) -> int:
        """How many times ``number`` called on ``day`` (this call included)."""
        ...


class CallbackStore(Protocol):
    """Where callbacks are kept, as the dialler uses them."""

    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None,
                           *, state: str = "pending") -> int:
        """Book a callback; its id."""
        ...
