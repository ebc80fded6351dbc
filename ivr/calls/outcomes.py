"""The outcomes a call can end with (exactly one per call)."""

from __future__ import annotations

from enum import Enum

__all__ = ["Outcome", "QUEUES"]

#: Symbolic queues the IVR can hand a caller to (Asterisk queue names).
QUEUES = ("inhouse", "contractor")


class Outcome(str, Enum):
    SELF_SERVED = "self_served"
    ROUTED_INHOUSE = "routed:inhouse"
    ROUTED_CONTRACTOR = "routed:contractor"
    CALLBACK = "callback"
    CLOSED_HOURS = "closed_hours"
    CALLER_HANGUP = "caller_hangup"
    ERROR_ROUTED = "error_routed"

    @classmethod
    def routed(cls, queue: str) -> "Outcome":
        return cls(f"routed:{queue}")
