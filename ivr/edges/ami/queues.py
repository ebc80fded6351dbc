"""Live queue state, from QueueSummary snapshots and queue events."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QueueState", "QueueBoard", "DEFAULT_TALK_TIME"]

#: Seconds an agent spends per call when Asterisk has no figure yet (a fresh queue).
DEFAULT_TALK_TIME = 240


def _int(value: object, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


#: How far a join or leave event's count may be from one more or one less than the board's (events
#: missed since the last snapshot); a count beyond that is not taken (the next QueueSummary corrects).
MAX_COUNT_JUMP = 20


def _plausible(value: object, expected: int) -> int:
    """An event's new caller count if it is near what one caller joining or leaving gives, else that."""
    count = _int(value, expected)
    return count if abs(count - expected) <= MAX_COUNT_JUMP else expected


@dataclass
class QueueState:
    """One queue as the manager reports it: agents, callers, waits."""

    name: str
    logged_in: int = 0
    available: int = 0
    callers: int = 0
    hold_time: int = 0  # average seconds callers waited (Asterisk's HoldTime)
    talk_time: int = 0
    longest_hold: int = 0
    updated: float = field(default_factory=time.monotonic)

    def expected_wait(self) -> int:
        """Seconds a new caller can expect to wait.

        A free agent means no wait. Otherwise the callers ahead share the
        logged-in agents, each taking about the average talk time; Asterisk's
        own average hold time is a floor once it has one.
        """
        if self.available > 0 and self.callers == 0:
            return 0
        if self.logged_in <= 0:
            return max(self.hold_time, self.longest_hold, 15 * 60)  # nobody logged in: a long wait
        talk = self.talk_time or DEFAULT_TALK_TIME
        estimate = int((self.callers + 1) * talk / self.logged_in) - (talk if self.available > 0 else 0)
        return max(estimate, self.hold_time, 0)


class QueueBoard:
    """The state of every queue the IVR routes to, kept current by the AMI controller."""

    def __init__(self) -> None:
        self.queues: dict[str, QueueState] = {}

    def get(self, name: str) -> QueueState | None:
        """The queue ``name``, or None if Asterisk has not reported it."""
        return self.queues.get(name)

    def _q(self, name: str) -> QueueState:
        return self.queues.setdefault(name, QueueState(name))

    def apply_summary(self, event: Mapping[str, Any]) -> None:
        """A ``QueueSummary`` list item replaces the queue's figures."""
        q = self._q(str(event.get("Queue", "")))
        q.logged_in = _int(event.get("LoggedIn"))
        q.available = _int(event.get("Available"))
        q.callers = _int(event.get("Callers"))
        q.hold_time = _int(event.get("HoldTime"))
        q.talk_time = _int(event.get("TalkTime"))
        q.longest_hold = _int(event.get("LongestHoldTime"))
        q.updated = time.monotonic()

    def apply_event(self, event: Mapping[str, Any]) -> None:
        """Live events between snapshots keep the caller counts current."""
        name = str(event.get("Event", ""))
        queue = event.get("Queue")
        if not queue:
            return
        q = self._q(str(queue))
        if name == "QueueCallerJoin":
            q.callers = _plausible(event.get("Count"), q.callers + 1)
        elif name == "QueueCallerLeave":
            # Asterisk sends Leave for every caller who leaves (Abandon comes with one), with the new count.
            q.callers = _plausible(event.get("Count"), max(q.callers - 1, 0))
        elif name == "AgentConnect":
            q.available = max(q.available - 1, 0)
        elif name == "AgentComplete":
            q.available = min(q.available + 1, q.logged_in or q.available + 1)
        q.updated = time.monotonic()
