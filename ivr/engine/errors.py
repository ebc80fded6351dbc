"""The error a flow raises when it cannot go on."""

from __future__ import annotations

__all__ = ["FlowError"]


class FlowError(RuntimeError):
    """The flow cannot go on (bad state at run time); the call supervisor routes the caller."""
