"""FastAGI server and AGI session API (knows nothing about flows)."""

from .errors import (
    AgiCommandError,
    AgiError,
    AgiProtocolError,
    AgiTimeout,
    ApplicationNotFound,
    CallerHungUp,
    PlaybackFailed,
)
from .protocol import AgiEnvironment, AgiReply
from .server import AgiLimits, FastAgiServer
from .session import AgiSession, DigitsResult, PlaybackResult, RecordResult

__all__ = [
    "AgiCommandError",
    "AgiEnvironment",
    "AgiError",
    "AgiLimits",
    "AgiProtocolError",
    "AgiReply",
    "AgiSession",
    "AgiTimeout",
    "ApplicationNotFound",
    "CallerHungUp",
    "DigitsResult",
    "FastAgiServer",
    "PlaybackFailed",
    "PlaybackResult",
    "RecordResult",
]
