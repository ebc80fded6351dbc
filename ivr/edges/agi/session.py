"""One AGI session: send commands, read replies, notice hang-ups.

The session owns a line transport (a FastAGI TCP connection or a classic AGI
process's stdio) and exposes the commands a flow needs as coroutines with
typed results. It knows nothing about flows.

A background reader turns the byte stream into lines so that an unsolicited
``HANGUP`` is seen even while no command is outstanding (for example during a
slow tracking lookup): :attr:`AgiSession.hung_up` is set at once and
:meth:`AgiSession.wait_hangup` lets callers race long work against it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import NoReturn, Protocol

from .errors import (
    AgiCommandError,
    AgiProtocolError,
    AgiTimeout,
    ApplicationNotFound,
    CallerHungUp,
    PlaybackFailed,
)
from .protocol import (
    CODE_OK,
    HANGUP_LINE,
    AgiEnvironment,
    AgiReply,
    Answered,
    DeadChannel,
    ReplyAssembler,
    ReplyParseError,
    UsageTooLong,
    decode_line,
    format_command,
)

__all__ = [
    "LineReader",
    "LineWriter",
    "AgiSession",
    "PlaybackResult",
    "DigitsResult",
    "RecordResult",
    "dtmf_from_code",
    "ALL_DIGITS",
]

ALL_DIGITS = "0123456789*#"

class LineReader(Protocol):
    """Where an AGI session reads Asterisk's lines (a stream, or standard input)."""

    async def readline(self) -> bytes:
        """The next line, with its newline; empty at the end of the stream."""


class LineWriter(Protocol):
    """Where an AGI session writes its commands."""

    def write(self, data: bytes) -> None:
        """Queue bytes to send."""

    async def drain(self) -> None:
        """Wait until the bytes are sent."""


def dtmf_from_code(code: int) -> str | None:
    """Map an AGI result code (the ASCII value of a key) to the key, or None."""
    if code <= 0:
        return None
    ch = chr(code) if code < 128 else ""
    return ch if ch in "0123456789*#ABCD" else None


@dataclass(frozen=True)
class PlaybackResult:
    """Outcome of STREAM FILE: the key that interrupted it (if any) and where it stopped."""

    digit: str | None
    endpos: int | None


@dataclass(frozen=True)
class DigitsResult:
    """Outcome of GET DATA: the keys typed and whether entry ended on the timeout."""

    digits: str
    timed_out: bool


@dataclass(frozen=True)
class RecordResult:
    """Outcome of RECORD FILE."""

    digit: str | None
    endpos: int | None
    timed_out: bool


_EOF = object()


class _Failure:
    """A reader failure queued in place of a line."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class AgiSession:
    """Commands of one AGI session over a line transport.

    ``reply_timeout`` bounds quick commands; commands that wait on the caller
    (playback, digit entry, EXEC, recording) get their own bound derived from
    their arguments plus ``media_timeout`` for the audio itself.
    """

    def __init__(
        self,
        reader: LineReader,
        writer: LineWriter,
        env: AgiEnvironment,
        *,
        reply_timeout: float = 10.0,
        media_timeout: float = 120.0,
        max_line: int = 8192,
        max_pending_lines: int = 32,
        max_usage_lines: int = 64,
    ) -> None:
        self.env = env
        self.reply_timeout = reply_timeout
        self.media_timeout = media_timeout
        self.max_line = max_line
        #: Lines received that no command asked for yet; a peer sending more is dropped.
        self.max_pending_lines = max_pending_lines
        #: Lines of a ``520-`` usage reply (Asterisk's longest is about 20).
        self.max_usage_lines = max_usage_lines
        self._broken: AgiProtocolError | None = None
        self._reader = reader
        self._writer = writer
        self._lines: asyncio.Queue[object] = asyncio.Queue()
        self._hangup = asyncio.Event()
        self._dead = False
        self._lock = asyncio.Lock()
        self._reader_task = asyncio.get_running_loop().create_task(self._read_lines())
        #: Seconds each command took from write to final reply (for metrics and benches).
        self.latencies: list[float] = []
        self.commands_sent = 0

    # -- state -------------------------------------------------------------

    @property
    def hung_up(self) -> bool:
        """True once Asterisk has said the caller is gone (HANGUP, 511, -1 on a dead channel, EOF)."""
        return self._hangup.is_set()

    def mark_hung_up(self) -> None:
        """The caller is gone (a classic AGI process got SIGHUP): later commands raise CallerHungUp."""
        self._hangup.set()

    async def wait_hangup(self) -> None:
        """Return when the caller hangs up (for racing long operations against it)."""
        await self._hangup.wait()

    def _mark_dead(self) -> None:
        self._dead = True
        self._hangup.set()

    async def close(self) -> None:
        """Stop the background reader; the owner closes the transport."""
        self._reader_task.cancel()
        try:
            await self._reader_task
        except (asyncio.CancelledError, Exception):
            pass

    # -- transport ---------------------------------------------------------

    async def _read_lines(self) -> None:
        try:
            while True:
                raw = await self._reader.readline()
                if not raw:
                    self._lines.put_nowait(_EOF)
                    self._mark_dead()
                    return
                try:
                    line = decode_line(raw, self.max_line)
                except ReplyParseError as exc:
                    raise AgiProtocolError(str(exc)) from None
                if line == HANGUP_LINE:
                    # Unsolicited: the caller is gone. Later commands get 511.
                    self._hangup.set()
                    continue
                if self._lines.qsize() >= self.max_pending_lines:
                    # Nobody asked for these: stop reading (memory stays bounded) and drop the peer.
                    raise AgiProtocolError(f"peer sent more than {self.max_pending_lines} lines no command asked for")
                self._lines.put_nowait(line)
        except asyncio.CancelledError:
            raise
        except (ValueError, asyncio.LimitOverrunError) as exc:
            # StreamReader raises ValueError when a line exceeds its limit.
            self._lines.put_nowait(_Failure(AgiProtocolError(f"unreadable reply: {exc}")))
        except AgiProtocolError as exc:
            self._broken = exc
            self._lines.put_nowait(_Failure(exc))
        except (ConnectionError, OSError) as exc:
            self._lines.put_nowait(_Failure(CallerHungUp(f"connection lost: {exc}")))
            self._mark_dead()

    def _break(self, error: AgiProtocolError) -> NoReturn:
        """The peer broke the protocol beyond repair: stop reading it; every command from now on fails."""
        self._broken = error
        self._reader_task.cancel()
        raise error

    async def _next_line(self, deadline: float, command: str) -> str:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AgiTimeout(f"no reply to {command.strip()!r}")
        try:
            item = await asyncio.wait_for(self._lines.get(), remaining)
        except asyncio.TimeoutError:
            raise AgiTimeout(f"no reply to {command.strip()!r} within the reply timeout") from None
        if item is _EOF:
            self._lines.put_nowait(_EOF)  # every later read sees EOF too
            raise CallerHungUp("connection closed")
        if isinstance(item, _Failure):
            self._lines.put_nowait(item)
            raise item.error
        assert isinstance(item, str)
        return item

    async def command(
        self, line: str, *, timeout: float | None = None, allow_dead: bool = False
    ) -> AgiReply:
        """Send one raw command line and return its final ``200`` reply.

        Raises :class:`CallerHungUp` on ``511``/EOF (or when a ``HANGUP`` was
        seen and ``allow_dead`` is False), :class:`AgiCommandError` on
        ``510``/``520``, :class:`AgiTimeout` when no reply comes in time and
        :class:`AgiProtocolError` on anything that is not AGI.
        """
        if not line.endswith("\n"):
            line += "\n"
        async with self._lock:
            if self._broken is not None:
                raise self._broken
            if self._dead or (self.hung_up and not allow_dead):
                raise CallerHungUp("hangup")
            started = time.monotonic()
            deadline = started + (timeout if timeout is not None else self.reply_timeout)
            try:
                self._writer.write(line.encode("utf-8"))
                await self._writer.drain()
            except (ConnectionError, OSError) as exc:
                self._mark_dead()
                raise CallerHungUp(f"connection lost: {exc}") from None
            self.commands_sent += 1
            reply = await self._read_reply(deadline, line)
            self.latencies.append(time.monotonic() - started)
        if self.hung_up and not allow_dead:
            raise CallerHungUp("hangup")
        return reply

    async def _read_reply(self, deadline: float, command: str) -> AgiReply:
        """The reply's lines until it is complete (:class:`ReplyAssembler` says when), as the command's result."""
        assembler = ReplyAssembler(self.max_usage_lines)
        while True:
            text = await self._next_line(deadline, command)
            try:
                outcome = assembler.feed(text)
            except UsageTooLong as exc:
                self._break(AgiProtocolError(str(exc)))
            except ReplyParseError as exc:
                raise AgiProtocolError(str(exc)) from None
            if outcome is None:
                continue
            if isinstance(outcome, Answered):
                return outcome.reply
            if isinstance(outcome, DeadChannel):
                self._mark_dead()
                raise CallerHungUp("dead channel")
            raise AgiCommandError(outcome.code, command, outcome.message, usage=outcome.usage)

    # -- helpers -----------------------------------------------------------

    async def _alive_after_failure(self) -> bool:
        """After a ``-1`` result: is the channel still up (so it was not a hang-up)?

        Asterisk answers ``-1`` both for a missing prompt and for a caller who
        left; only CHANNEL STATUS tells them apart.
        """
        try:
            status = await self.channel_status()
        except CallerHungUp:
            return False
        return status >= 0

    # -- commands ----------------------------------------------------------

    async def answer(self) -> None:
        """Answer the channel (ANSWER)."""
        reply = await self.command("ANSWER\n")
        if reply.result_int == -1 and not await self._alive_after_failure():
            raise CallerHungUp("answer failed")

    async def channel_status(self) -> int:
        """CHANNEL STATUS: Asterisk's channel state (6 = up)."""
        reply = await self.command("CHANNEL STATUS\n")
        return reply.result_int if reply.result_int is not None else -1

    async def stream_file(
        self, path: str, escape_digits: str = "", *, max_seconds: float | None = None
    ) -> PlaybackResult:
        """Play a file (path without extension); stop on one of ``escape_digits``.

        Raises :class:`PlaybackFailed` when the file cannot be played on a live
        channel and :class:`CallerHungUp` when the caller left.
        """
        timeout = (max_seconds or self.media_timeout) + self.reply_timeout
        reply = await self.command(
            format_command("STREAM FILE", path, escape_digits, quote=(1,)), timeout=timeout
        )
        code = reply.result_code
        if code < 0:
            if await self._alive_after_failure():
                raise PlaybackFailed(path)
            raise CallerHungUp("during playback")
        return PlaybackResult(digit=dtmf_from_code(code), endpos=reply.endpos)

    async def get_data(
        self, prompt: str, timeout_ms: int, max_digits: int, *, max_seconds: float | None = None
    ) -> DigitsResult:
        """Play ``prompt`` and collect up to ``max_digits`` keys (``#`` ends entry)."""
        timeout = (max_seconds or self.media_timeout) + timeout_ms / 1000 * (max_digits + 1)
        reply = await self.command(
            format_command("GET DATA", prompt, timeout_ms, max_digits), timeout=timeout + self.reply_timeout
        )
        if reply.result_int is not None and reply.result_int < 0:
            if await self._alive_after_failure():
                raise PlaybackFailed(prompt)
            raise CallerHungUp("during digit entry")
        return DigitsResult(digits=reply.result, timed_out=reply.data == "timeout")

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        """Wait for one key; None on timeout."""
        reply = await self.command(
            format_command("WAIT FOR DIGIT", timeout_ms), timeout=timeout_ms / 1000 + self.reply_timeout
        )
        code = reply.result_code
        if code < 0:
            if await self._alive_after_failure():
                raise AgiProtocolError("WAIT FOR DIGIT failed on a live channel")
            raise CallerHungUp("during wait for digit")
        return dtmf_from_code(code)

    async def _say(self, command: str, value: str | int, escape_digits: str) -> str | None:
        reply = await self.command(format_command(command, value, escape_digits, quote=(1,)),
                                   timeout=self.media_timeout)
        if reply.result_code < 0 and not await self._alive_after_failure():
            raise CallerHungUp(f"during {command.lower()}")
        return dtmf_from_code(reply.result_code)

    async def say_digits(self, digits: str, escape_digits: str = "") -> str | None:
        """SAY DIGITS with Asterisk's own sounds; returns the interrupting key if any."""
        return await self._say("SAY DIGITS", digits, escape_digits)

    async def say_number(self, number: int, escape_digits: str = "") -> str | None:
        """SAY NUMBER with Asterisk's own sounds; returns the interrupting key if any."""
        return await self._say("SAY NUMBER", number, escape_digits)

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE on the channel (the dialplan reads it after the AGI)."""
        await self.command(format_command("SET VARIABLE", name, value, quote=(1,)))

    async def get_variable(self, name: str) -> str | None:
        """GET VARIABLE; None when unset."""
        reply = await self.command(format_command("GET VARIABLE", name))
        return reply.data if reply.result == "1" else None

    async def get_full_variable(self, expression: str) -> str | None:
        """GET FULL VARIABLE: evaluate a dialplan expression such as ``${CHANNEL}``."""
        reply = await self.command(format_command("GET FULL VARIABLE", expression, quote=(0,)))
        return reply.data if reply.result == "1" else None

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        """EXEC a dialplan application; returns its result code.

        Arguments are joined with commas, as the dialplan does. ``-2`` (the
        application does not exist) raises :class:`ApplicationNotFound`.
        """
        data = ",".join(args)
        line = format_command("EXEC", app, data) if data else format_command("EXEC", app)
        reply = await self.command(line, timeout=timeout or self.media_timeout)
        code = reply.result_code
        if code == -2:
            raise ApplicationNotFound(app)
        return code

    async def record_file(
        self,
        path: str,
        fmt: str = "wav",
        escape_digits: str = "#",
        timeout_ms: int = 10000,
        *,
        beep: bool = False,
        silence_s: int | None = None,
    ) -> RecordResult:
        """RECORD FILE; ``silence_s`` stops after that much trailing silence."""
        args: list[str | int] = [path, fmt, escape_digits, timeout_ms, 0]
        if beep:
            args.append("BEEP")
        if silence_s:
            args.append(f"s={silence_s}")
        reply = await self.command(
            format_command("RECORD FILE", *args, quote=(2,)),
            timeout=timeout_ms / 1000 + self.reply_timeout,
        )
        code = reply.result_code
        if code < 0:
            if reply.data == "writefile" or await self._alive_after_failure():
                raise AgiCommandError(CODE_OK, f"RECORD FILE {path}", reply.data or "record failed")
            raise CallerHungUp("during recording")
        return RecordResult(
            digit=dtmf_from_code(code) if reply.data == "dtmf" else None,
            endpos=reply.endpos,
            timed_out=reply.data == "timeout",
        )

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write a line to the Asterisk console/log (works on a dead channel too)."""
        await self.command(format_command("VERBOSE", message, level, quote=(0,)), allow_dead=True)

    async def hangup(self) -> None:
        """Hang up the channel (the dialplan does not continue)."""
        await self.command("HANGUP\n")
        self._hangup.set()
