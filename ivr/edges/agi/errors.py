"""Exceptions raised by the AGI layer.

Everything a flow may want to catch derives from :class:`AgiError`. The one a
flow must always expect is :class:`CallerHungUp`: a ``HANGUP`` line, a ``511``
reply, a ``-1`` result on a dead channel and end-of-stream all become it.
"""

from __future__ import annotations


class AgiError(Exception):
    """Base class of AGI errors."""


class CallerHungUp(AgiError):
    """The caller's channel is gone; the session can only clean up."""

    def __init__(self, how: str = "hangup") -> None:
        super().__init__(f"caller hung up ({how})")
        self.how = how


class AgiProtocolError(AgiError):
    """The peer sent something that is not AGI (bad line, oversized input)."""


class AgiTimeout(AgiError):
    """No reply to a command within its reply timeout."""


class AgiCommandError(AgiError):
    """Asterisk refused a command: ``510`` unknown command or ``520`` bad usage."""

    def __init__(self, code: int, command: str, message: str, usage: str = "") -> None:
        detail = f"{code} {message}".strip()
        super().__init__(f"{command.strip()!r} refused: {detail}")
        self.code = code
        self.command = command.strip()
        self.message = message
        self.usage = usage


class PlaybackFailed(AgiError):
    """Asterisk could not play a prompt (missing file, bad format) on a live channel."""

    def __init__(self, prompt: str) -> None:
        super().__init__(f"cannot play prompt {prompt!r} (missing file or unsupported format)")
        self.prompt = prompt


class ApplicationNotFound(AgiError):
    """``EXEC`` named a dialplan application Asterisk does not have (result -2)."""

    def __init__(self, app: str) -> None:
        super().__init__(f"dialplan application {app!r} is not available in Asterisk")
        self.app = app
