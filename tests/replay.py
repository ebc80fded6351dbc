"""A test double of Asterisk that replays a captured AGI transcript byte for byte.

It accepts one FastAGI-style connection from the test (playing the IVR side),
sends the captured environment block, then for every command the IVR sends it
checks the bytes against the capture and answers with the captured reply.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Replay:
    entries: list[dict]
    #: Indexes (among IVR commands) where any command is accepted: after a
    #: hang-up Asterisk answers every command the same way.
    lenient_from: int | None = None
    mismatches: list[str] = field(default_factory=list)

    def pairs(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for e in self.entries[1:]:
            if e["dir"] == "ivr->asterisk":
                out.append((e["data"], ""))
            elif e["dir"] == "asterisk->ivr" and out:
                cmd, reply = out[-1]
                out[-1] = (cmd, reply + e["data"])
        return out

    async def serve(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Return the IVR side of a socket pair whose other side replays the capture."""
        async def on_conn(reader, writer):
            writer.write(self.entries[0]["data"].encode())
            await writer.drain()
            for i, (expected, reply) in enumerate(self.pairs()):
                line = await reader.readline()
                if not line:
                    return
                got = line.decode()
                lenient = self.lenient_from is not None and i >= self.lenient_from
                if got != expected and not lenient:
                    self.mismatches.append(f"command {i}: got {got!r}, capture has {expected!r}")
                writer.write(reply.encode())
                await writer.drain()
            await reader.read()  # until the IVR closes
            writer.close()

        server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self._server = server
        return await asyncio.open_connection("127.0.0.1", port)

    def close(self) -> None:
        self._server.close()
