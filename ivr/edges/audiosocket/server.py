"""The AudioSocket server: hands each connection Asterisk opens to the call waiting for it.

A question runs ``EXEC AudioSocket <uuid>,<host>:<port>`` through AGI after calling
:meth:`AudioSocketServer.expect` with the same UUID; Asterisk connects back, and the connection is
handed to that call as an :class:`AudioStream`. Closing the socket ends the EXEC and the AGI session
goes on. The framing itself is :mod:`.protocol` (no I/O).

Each connection is an :class:`asyncio.Protocol`: the transport's callback cuts the bytes into frames
and leaves them for the call. A caller sends 50 frames a second, so this is the hot path of a
speaking line: no task per connection, and the call's task is woken once per frame it waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable

import structlog
from typing_extensions import override

from .protocol import (
    FRAME_BYTES,
    HEADER_BYTES,
    KIND_AUDIO,
    KIND_UUID,
    AudioSocketError,
    Frame,
    FrameDecoder,
    encode_frame,
    make_frame,
    parse_header,
)

__all__ = ["read_frame", "AudioStream", "AudioSocketServer", "MAX_BACKLOG"]

log = structlog.get_logger("ivr.audiosocket")

#: Seconds without sending before a frame of silence goes to Asterisk (its own limit is 2 s).
KEEPALIVE = 1.0
#: Frames a stream holds unread before it stops reading its socket (5 s of audio); TCP then holds
#: Asterisk back. Reading resumes when half of them are read.
MAX_BACKLOG = 250


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """Read one frame from a stream reader (the peer's side: simulators, tests); None at a clean end
    of stream. Raises :class:`AudioSocketError` on garbage."""
    try:
        header = await reader.readexactly(HEADER_BYTES)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise AudioSocketError("connection closed inside a frame header") from None
    kind, length = parse_header(header)
    try:
        payload = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError:
        raise AudioSocketError(f"connection closed inside a {length}-byte frame") from None
    return make_frame(kind, payload)


class AudioStream:
    """One accepted AudioSocket connection, already matched to its call.

    Frames wait here, in arrival order, from the connection's callback until the call reads them.
    The end of the stream (the peer closed, or broke the protocol) is kept after the last frame.
    """

    def __init__(self, uuid: str, transport: asyncio.Transport) -> None:
        self.uuid = uuid
        self._transport = transport
        self.last_sent = time.monotonic()  # when audio was last sent to Asterisk
        self.closed = asyncio.Event()
        self._frames: deque[Frame] = deque()
        self._ended = False
        self._error: AudioSocketError | None = None  # why the stream ended, when the peer broke it
        self._waiter: asyncio.Future[None] | None = None  # the call waiting for a frame
        loop = asyncio.get_running_loop()
        self._peer_done = loop.create_future()  # the peer ended its side (or the connection is gone)
        self._lost = loop.create_future()  # the connection is gone
        self._writable = asyncio.Event()
        self._writable.set()
        self._reading_paused = False

    # -- fed by the connection (transport callbacks) --

    def _arrived(self, frame: Frame) -> None:
        if self.closed.is_set():
            return  # closing: what Asterisk still sends is read and dropped
        self._frames.append(frame)
        if len(self._frames) >= MAX_BACKLOG and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()
        self._wake()

    def _end(self, error: AudioSocketError | None = None) -> None:
        if not self._ended:
            self._ended, self._error = True, error
        if not self._peer_done.done():
            self._peer_done.set_result(None)
        self._writable.set()  # a sender waiting for room learns the connection is gone
        self._wake()

    def _connection_lost(self) -> None:
        self._end()
        if not self._lost.done():
            self._lost.set_result(None)

    def _can_write(self, yes: bool) -> None:
        if yes:
            self._writable.set()
        else:
            self._writable.clear()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- used by the call --

    @property
    def backlog(self) -> int:
        """Frames received and not yet read."""
        return len(self._frames)

    async def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (None at end of stream); ``asyncio.TimeoutError`` after ``timeout`` seconds.

        Raises :class:`AudioSocketError` when the peer broke the protocol.
        """
        if not self._frames and not self._ended:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                # asyncio.timeout, not wait_for: no task per frame (this runs 50 times a second per caller).
                async with asyncio.timeout(timeout):
                    await self._waiter
            finally:
                self._waiter = None
        if self._frames:
            frame = self._frames.popleft()
            if self._reading_paused and len(self._frames) <= MAX_BACKLOG // 2:
                self._reading_paused = False
                self._transport.resume_reading()
            return frame
        if self._error is not None:
            raise self._error
        return None

    async def send_audio(self, pcm: bytes) -> None:
        """Send audio for Asterisk to play to the caller (the caller paces it).

        Raises :class:`ConnectionResetError` once the connection is gone."""
        if self._transport.is_closing():
            raise ConnectionResetError("the AudioSocket connection is closed")
        self.last_sent = time.monotonic()
        self._transport.write(encode_frame(KIND_AUDIO, pcm))
        await self._writable.wait()  # only while the transport's buffer is over its high-water mark

    def keep_alive(self) -> None:
        """Send a frame of silence when nothing was sent for ``KEEPALIVE`` seconds.

        Asterisk ends AudioSocket after 2 s with no frame either way (``app_audiosocket.c``: « no
        activity »). A phone that sends no RTP while its caller is silent (silence suppression) sends
        it no frame: without ours, a caller thinking for two seconds would lose the question. Called
        for every frame read, so it is plain code: one small frame a second needs no flow control."""
        if time.monotonic() - self.last_sent >= KEEPALIVE and not self.closed.is_set():
            self.last_sent = time.monotonic()
            if not self._transport.is_closing():
                self._transport.write(encode_frame(KIND_AUDIO, bytes(FRAME_BYTES)))

    async def close(self, linger: float = 1.0) -> None:
        """Close the socket: Asterisk's EXEC AudioSocket returns and the AGI goes on.

        Asterisk keeps sending the caller's audio until it sees the end of the stream.
        Closing with that audio unread would make the kernel reset the connection, and
        Asterisk logs the reset as an ERROR; so the IVR first ends its own direction,
        lets Asterisk finish (at most ``linger`` seconds, discarding what still comes),
        then closes.
        """
        if self.closed.is_set():
            return
        self.closed.set()
        self._frames.clear()
        if self._reading_paused:
            self._transport.resume_reading()  # what Asterisk still sends must be read, or it is reset
        if not self._peer_done.done() and not self._transport.is_closing():
            with contextlib.suppress(Exception):
                if self._transport.can_write_eof():
                    self._transport.write_eof()
                    await asyncio.wait_for(asyncio.shield(self._peer_done), linger)
        self._transport.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._lost), 2)


class _Connection(asyncio.Protocol):
    """One TCP connection: its UUID frame first (within the server's ``first_frame_timeout``), which
    matches it to a waiting call; from then on its frames go to that call's :class:`AudioStream`."""

    def __init__(self, server: AudioSocketServer) -> None:
        self.server = server
        self.decoder = FrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.stream: AudioStream | None = None
        self.counted = False  # holds one of the server's connections
        self.timer: asyncio.TimerHandle | None = None

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        refusal = self.server._admit(transport)
        if refusal:
            self._refuse(refusal)
            return
        self.counted = True
        self.timer = asyncio.get_running_loop().call_later(
            self.server.first_frame_timeout, self._refuse, "no UUID frame in time")

    @override
    def data_received(self, data: bytes) -> None:
        if self.transport is None or (self.stream is None and self.transport.is_closing()):
            return  # refused: nothing more is read
        # Stamped on arrival: the caller's end of speech is timed from it.
        decoded = self.decoder.decode(data, at=time.monotonic())
        for frame in decoded.frames:
            if self.stream is not None:
                self.stream._arrived(frame)
            elif not self._greeted(frame):
                return
        if decoded.error is not None:
            self._broken(decoded.error)

    @override
    def eof_received(self) -> bool | None:
        try:
            self.decoder.close()
        except AudioSocketError as exc:
            self._broken(exc)
            return None
        if self.stream is not None:
            self.stream._end()
        return None  # the transport closes: the peer is done, and the IVR's side ends with it

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.counted:
            self.counted = False
            self.server._open -= 1
        if self.stream is not None:
            self.stream._connection_lost()

    @override
    def pause_writing(self) -> None:
        if self.stream is not None:
            self.stream._can_write(False)

    @override
    def resume_writing(self) -> None:
        if self.stream is not None:
            self.stream._can_write(True)

    def _greeted(self, frame: Frame) -> bool:
        """The first frame: the UUID of a waiting call, or the connection is refused."""
        assert self.transport is not None
        if frame.kind != KIND_UUID:
            self._refuse("first frame is not a UUID frame")
            return False
        waiting = self.server._waiting.pop(frame.uuid, None)
        if waiting is None or waiting.done():
            self._refuse(f"no call is waiting for UUID {frame.uuid}")
            return False
        if self.timer is not None:
            self.timer.cancel()
        self.stream = AudioStream(frame.uuid, self.transport)
        waiting.set_result(self.stream)
        return True

    def _broken(self, exc: AudioSocketError) -> None:
        """The peer broke the protocol: before its UUID the connection is refused; after, its call
        reads the error after the frames it already has."""
        if self.stream is None:
            self._refuse(str(exc))
            return
        self.stream._end(exc)
        assert self.transport is not None
        self.transport.close()

    def _refuse(self, why: str) -> None:
        assert self.transport is not None
        if not self.transport.is_closing():
            self.server._reject(self.transport, why)


class AudioSocketServer:
    """Listens for Asterisk's AudioSocket connections and matches them to waiting calls by UUID."""

    def __init__(self, host: str = "127.0.0.1", port: int = 9092, *, first_frame_timeout: float = 3.0,
                 max_connections: int = 500, accept_peer: Callable[[str], bool] = lambda address: True) -> None:
        self.host = host
        self.port = port
        self.first_frame_timeout = first_frame_timeout
        #: Connections open at once; more are closed (each is a call's question, or a stranger).
        self.max_connections = max_connections
        #: Which peer addresses may connect (the Asterisk hosts).
        self.accept_peer = accept_peer
        self._waiting: dict[str, asyncio.Future[AudioStream]] = {}
        self._server: asyncio.base_events.Server | None = None
        self._open = 0
        self.rejected = 0
        self._rejections_logged_at = 0.0

    @property
    def bound_port(self) -> int:
        """The port Asterisk's AudioSocket connects to."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen for AudioSocket connections."""
        # asyncio accepts up to `backlog` connections per wake-up before any refusal runs: keep it modest.
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Connection(self), self.host, self.port, backlog=128)
        log.info("audiosocket_listening", host=self.host, port=self.bound_port)

    async def stop(self) -> None:
        """Stop listening; calls waiting for their audio are told it will not come."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for fut in self._waiting.values():
            fut.cancel()
        self._waiting.clear()

    def expect(self, call_uuid: str) -> asyncio.Future[AudioStream]:
        """A future that resolves when Asterisk connects with ``call_uuid``."""
        fut: asyncio.Future[AudioStream] = asyncio.get_running_loop().create_future()
        self._waiting[str(uuidlib.UUID(call_uuid))] = fut
        return fut

    def forget(self, call_uuid: str) -> None:
        """Stop waiting for the audio of ``call_uuid`` (its question is over)."""
        fut = self._waiting.pop(str(uuidlib.UUID(call_uuid)), None)
        if fut is not None and not fut.done():
            fut.cancel()

    @property
    def waiting(self) -> int:
        """Questions waiting for their audio connection."""
        return len(self._waiting)

    def _admit(self, transport: asyncio.Transport) -> str:
        """Why a new connection is refused ("" when it is admitted, and counted)."""
        peer = transport.get_extra_info("peername")
        if not self.accept_peer(peer[0] if isinstance(peer, tuple) else ""):
            return "peer not allowed"
        if self._open >= self.max_connections:
            return f"more than {self.max_connections} connections"
        self._open += 1
        return ""

    def _reject(self, transport: asyncio.Transport, why: str) -> None:
        """Drop a connection at once; one log line per ten seconds whatever the rate of rejections."""
        self.rejected += 1
        transport.abort()
        now = time.monotonic()
        if now - self._rejections_logged_at >= 10.0:
            self._rejections_logged_at = now
            log.warning("audiosocket_rejected", peer=str(transport.get_extra_info("peername")), error=why,
                        rejected_so_far=self.rejected)
