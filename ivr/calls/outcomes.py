"""The outcomes a call can end with (exactly one per call)."""

from __future__ import annotations

from enum import Enum

__all__ = ["Outcome"]


class Outcome(str, Enum):
    """How a call ended: each call gets exactly one."""

    SELF_SERVED = "self_served"
    #: Handed to a queue; recorded as ``routed:<queue>`` (:meth:`text`).
    ROUTED = "routed"
    CALLBACK = "callback"
    CLOSED_HOURS = "closed_hours"
    CALLER_HANGUP = "caller_hangup"
    ERROR_ROUTED = "error_routed"

    def text(self, queue: str = "") -> str:
        """How records and the dialplan name the outcome: ``routed:inhouse`` for a hand-off."""
        return f"routed:{queue}" if self is Outcome.ROUTED else self.value

    @classmethod
    def of(cls, text: str) -> Outcome | None:
        """The outcome a record's text names (``routed:inhouse`` is :attr:`ROUTED`), None if none."""
        try:
            return cls(text.partition(":")[0])
        except ValueError:
            return None

    @property
    def to_agent(self) -> bool:
        """The caller was handed to a queue (chosen, or because the IVR failed)."""
        return self in (Outcome.ROUTED, Outcome.ERROR_ROUTED)
