"""Asterisk's side of an AudioSocket connection, for tests: a server on a free port, a call waiting for
its audio, and a peer connected to it with its UUID frame sent."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ivr.edges.audiosocket.protocol import KIND_UUID, encode_frame
from ivr.edges.audiosocket.server import AudioSocketServer, AudioStream
from ivr.waiting import DEADLINE


@dataclass
class Connected:
    """A server, the call's stream and the peer's two ends."""

    server: AudioSocketServer
    stream: AudioStream
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


@contextlib.asynccontextmanager
async def connected_peer(first: bytes = b"") -> AsyncIterator[Connected]:
    """A peer connected to a waiting call; ``first``: bytes it sends right after its UUID frame (before
    the call has its stream). The stream and the server are closed on the way out."""
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    try:
        wanted = str(uuid.uuid4())
        waiting = server.expect(wanted)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(encode_frame(KIND_UUID, uuid.UUID(wanted).bytes) + first)  # sent as the socket takes it
        stream = await asyncio.wait_for(waiting, DEADLINE)
        try:
            yield Connected(server, stream, reader, writer)
        finally:
            await stream.close()
            writer.close()
    finally:
        await server.stop()
