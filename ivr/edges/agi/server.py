"""Asyncio FastAGI server.

Accepts Asterisk's FastAGI connections, reads the environment block with
bounds (line length, number of lines, total size, time), then hands an
:class:`~ivr.edges.agi.session.AgiSession` to the application. A bad peer
only ever costs its own connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from .errors import AgiProtocolError
from .protocol import AgiEnvironment, BadEnvironment, EnvironmentReader
from .session import AgiSession

__all__ = ["AgiLimits", "FastAgiServer", "SessionRunner", "read_environment"]

log = structlog.get_logger("ivr.agi")

#: What the server runs for each session (the call supervisor).
SessionRunner = Callable[[AgiSession], Awaitable[None]]


@dataclass(frozen=True)
class AgiLimits:
    """Bounds that keep one misbehaving peer from hurting the others."""

    max_line: int = 8192
    max_env_lines: int = 256
    max_env_bytes: int = 32768
    env_timeout: float = 5.0
    reply_timeout: float = 10.0
    media_timeout: float = 120.0
    #: Reply lines received that no command asked for (a peer sending more is dropped).
    max_pending_lines: int = 32
    #: Lines of one ``520-`` usage reply.
    max_usage_lines: int = 64


async def read_environment(reader: asyncio.StreamReader, limits: AgiLimits) -> AgiEnvironment:
    """Read the ``agi_*`` block up to its end (:class:`~ivr.edges.agi.protocol.EnvironmentReader`),
    within ``limits``.

    Raises :class:`AgiProtocolError` on garbage, oversized input, early EOF or when the block does not
    end within ``limits.env_timeout``. A block from Asterisk with a broken field comes back with its
    ``problems``.
    """
    block = EnvironmentReader(max_lines=limits.max_env_lines)
    total = 0

    async def _read() -> AgiEnvironment:
        nonlocal total
        while True:
            try:
                raw = await reader.readline()
            except ValueError:
                raise AgiProtocolError(f"environment line longer than {limits.max_line} bytes") from None
            if not raw:
                raise AgiProtocolError(f"connection closed inside the environment block after {block.lines} lines")
            total += len(raw)
            if total > limits.max_env_bytes:
                raise AgiProtocolError(f"environment block larger than {limits.max_env_bytes} bytes")
            try:
                env = block.feed(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            except BadEnvironment as exc:
                raise AgiProtocolError(str(exc)) from None
            if env is not None:
                return env

    try:
        return await asyncio.wait_for(_read(), limits.env_timeout)
    except asyncio.TimeoutError:
        raise AgiProtocolError(
            f"environment block not terminated within {limits.env_timeout:g} s ({block.lines} lines read)"
        ) from None


class FastAgiServer:
    """A FastAGI listener that runs ``run_session(session)`` for every connection.

    :meth:`stop` stops accepting, waits up to ``grace`` seconds for live
    sessions to finish, then cancels what is left.
    """

    def __init__(
        self,
        run_session: SessionRunner,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        limits: AgiLimits | None = None,
        max_sessions: int = 1000,
        accept_peer: Callable[[str], bool] = lambda address: True,
    ) -> None:
        self.run_session = run_session
        self.host = host
        self.port = port
        self.limits = limits or AgiLimits()
        #: Connections open at once (sessions and peers still sending their environment); more are closed.
        self.max_sessions = max_sessions
        #: Which peer addresses may open a session (the Asterisk hosts).
        self.accept_peer = accept_peer
        self.refused = 0
        self._refusals_logged_at = 0.0
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def active_sessions(self) -> int:
        """Calls (FastAGI sessions) in progress."""
        return len(self._tasks)

    @property
    def bound_port(self) -> int:
        """The port actually bound (useful with port 0)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen for FastAGI connections."""
        # asyncio accepts up to `backlog` connections per wake-up before any refusal runs (each holds a
        # descriptor until then): a modest backlog keeps a connection flood from reaching the limit.
        self._server = await asyncio.start_server(
            self._on_connection, self.host, self.port, limit=self.limits.max_line, backlog=128
        )
        log.info("agi_listening", host=self.host, port=self.bound_port)

    def _refuse(self, writer: asyncio.StreamWriter, why: str, peer: str) -> None:
        """Close a connection at once; one log line per ten seconds whatever the rate of refusals."""
        self.refused += 1
        transport = writer.transport
        transport.abort()  # the descriptor is freed now, not after a graceful close
        now = time.monotonic()
        if now - self._refusals_logged_at >= 10.0:
            self._refusals_logged_at = now
            log.warning("agi_connection_refused", why=why, peer=peer, refused_so_far=self.refused)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if not self.accept_peer(peer[0] if isinstance(peer, tuple) else ""):
            self._refuse(writer, "peer not allowed", peer_text)
            return
        if len(self._tasks) >= self.max_sessions:
            self._refuse(writer, f"more than {self.max_sessions} connections", peer_text)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                env = await read_environment(reader, self.limits)
            except AgiProtocolError as exc:
                log.error("agi_bad_environment", peer=peer_text, error=str(exc))
                return
            except (ConnectionError, OSError) as exc:
                log.warning("agi_connection_lost", peer=peer_text, error=str(exc))
                return
            session = AgiSession(
                reader,
                writer,
                env,
                reply_timeout=self.limits.reply_timeout,
                media_timeout=self.limits.media_timeout,
                max_line=self.limits.max_line,
                max_pending_lines=self.limits.max_pending_lines,
                max_usage_lines=self.limits.max_usage_lines,
            )
            try:
                await self.run_session(session)
            finally:
                await session.close()
        except asyncio.CancelledError:
            log.warning("agi_session_cancelled", peer=peer_text)
        except Exception:  # never let one call take the listener down
            log.exception("agi_session_crashed", peer=peer_text)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting, let live calls finish for up to ``grace`` seconds, cancel the rest."""
        if self._server is not None:
            self._server.close()
        pending = set(self._tasks)
        if pending:
            log.info("agi_draining", live_calls=len(pending), grace_s=grace)
            _, still = await asyncio.wait(pending, timeout=grace)
            for task in still:
                task.cancel()
            if still:
                log.warning("agi_drain_cancelled", cancelled=len(still))
                await asyncio.wait(still, timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        log.info("agi_stopped")
