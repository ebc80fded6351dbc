"""The AudioSocket server: hands each connection Asterisk opens to the call waiting for it.

A question runs ``EXEC AudioSocket <uuid>,<host>:<port>`` through AGI after calling
:meth:`AudioSocketServer.expect` with the same UUID; Asterisk connects back, and the connection is
handed to that call as an :class:`AudioStream`. Closing the socket ends the EXEC and the AGI session
goes on. The framing itself is :mod:`.protocol` (no I/O).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuidlib
from collections.abc import Callable

import structlog

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

__all__ = ["read_frame", "AudioStream", "AudioSocketServer"]

log = structlog.get_logger("ivr.audiosocket")

#: Seconds without sending before a frame of silence goes to Asterisk (its own limit is 2 s).
KEEPALIVE = 1.0


async def read_frame(reader: asyncio.StreamReader) -> Frame | None:
    """Read one frame; None at a clean end of stream. Raises :class:`AudioSocketError` on garbage."""
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
    """One accepted AudioSocket connection, already matched to its call."""

    def __init__(self, uuid: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.uuid = uuid
        self.reader = reader
        self.writer = writer
        self.last_sent = time.monotonic()  # when audio was last sent to Asterisk
        self.closed = asyncio.Event()
        # Frames are read by one task into a queue, so that waiting for a frame
        # with a timeout never cancels a read half-way through a frame.
        self._frames: asyncio.Queue[Frame | None | Exception] = asyncio.Queue()
        self._pump = asyncio.get_running_loop().create_task(self._read_all())

    async def _read_all(self) -> None:
        decoder = FrameDecoder()
        try:
            while True:
                data = await self.reader.read(4096)
                if not data:
                    decoder.close()
                    self._frames.put_nowait(None)
                    return
                # Stamped on arrival: the caller's end of speech is timed from here.
                for frame in decoder.feed(data, at=time.monotonic()):
                    if not self.closed.is_set():  # closing: what Asterisk still sends is read and dropped
                        self._frames.put_nowait(frame)
        except (AudioSocketError, ConnectionError, OSError) as exc:
            self._frames.put_nowait(exc)

    @property
    def backlog(self) -> int:
        """Frames received and not yet read."""
        return self._frames.qsize()

    async def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (None at end of stream); ``asyncio.TimeoutError`` after ``timeout`` seconds.

        Raises :class:`AudioSocketError` when the peer broke the protocol.
        """
        if not self._frames.empty():
            item = self._frames.get_nowait()
        else:
            # asyncio.timeout, not wait_for: no task per frame (this runs 50 times a second per caller).
            async with asyncio.timeout(timeout):
                item = await self._frames.get()
        if isinstance(item, Exception):
            self._frames.put_nowait(item)
            if isinstance(item, AudioSocketError):
                raise item
            return None
        if item is None:
            self._frames.put_nowait(None)
        return item

    async def send_audio(self, pcm: bytes) -> None:
        """Send audio for Asterisk to play to the caller (the caller paces it)."""
        self.last_sent = time.monotonic()
        self.writer.write(encode_frame(KIND_AUDIO, pcm))
        await self.writer.drain()

    def keep_alive(self) -> None:
        """Send a frame of silence when nothing was sent for ``KEEPALIVE`` seconds.

        Asterisk ends AudioSocket after 2 s with no frame either way (``app_audiosocket.c``: « no
        activity »). A phone that sends no RTP while its caller is silent (silence suppression) sends
        it no frame: without ours, a caller thinking for two seconds would lose the question. Called
        for every frame read, so it is plain code: one small frame a second needs no flow control."""
        if time.monotonic() - self.last_sent >= KEEPALIVE and not self.closed.is_set():
            self.last_sent = time.monotonic()
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                self.writer.write(encode_frame(KIND_AUDIO, bytes(FRAME_BYTES)))

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
        if not self._pump.done():
            with contextlib.suppress(Exception):
                if self.writer.can_write_eof():
                    self.writer.write_eof()
                    await asyncio.wait_for(asyncio.shield(self._pump), linger)
        self._pump.cancel()
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


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
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port, backlog=128)
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

    def _reject(self, writer: asyncio.StreamWriter, why: str, peer: object) -> None:
        """Drop a connection at once; one log line per ten seconds whatever the rate of rejections."""
        self.rejected += 1
        writer.transport.abort()
        now = time.monotonic()
        if now - self._rejections_logged_at >= 10.0:
            self._rejections_logged_at = now
            log.warning("audiosocket_rejected", peer=str(peer), error=why, rejected_so_far=self.rejected)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not self.accept_peer(peer[0] if isinstance(peer, tuple) else ""):
            self._reject(writer, "peer not allowed", peer)
            return
        if self._open >= self.max_connections:
            self._reject(writer, f"more than {self.max_connections} connections", peer)
            return
        self._open += 1
        try:
            await self._serve(reader, writer, peer)
        finally:
            self._open -= 1

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: object) -> None:
        try:
            frame = await asyncio.wait_for(read_frame(reader), self.first_frame_timeout)
            if frame is None or frame.kind != KIND_UUID:
                raise AudioSocketError("first frame is not a UUID frame")
            key = frame.uuid
            fut = self._waiting.pop(key, None)
            if fut is None or fut.done():
                raise AudioSocketError(f"no call is waiting for UUID {key}")
        except (AudioSocketError, asyncio.TimeoutError, ConnectionError, OSError, ValueError) as exc:
            self._reject(writer, str(exc) or type(exc).__name__, peer)
            return
        stream = AudioStream(key, reader, writer)
        fut.set_result(stream)
        # The call owns the stream now; keep this handler alive until it closes it,
        # so the server's shutdown waits for it.
        await stream.closed.wait()
