"""Classic AGI's transport (one process per call, stdin/stdout), for sites that cannot open a FastAGI port.

pyst2 reads the environment block (:func:`read_classic_environment`); the replies are then read
by the same :class:`~ivr.edges.agi.session.AgiSession` as FastAGI's, through the line reader and
writer here. Asterisk tells a classic AGI process that the caller hung up with SIGHUP, not a line.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import BinaryIO, Protocol

from .protocol import AgiEnvironment, build_environment

__all__ = ["StdioReader", "StdioWriter", "read_classic_environment"]


class _Lines(Protocol):
    def readline(self) -> bytes: ...


class StdioWriter:
    """The LineWriter our session needs, over the process's stdout."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        """Write to standard output."""
        self.stream.write(data)

    async def drain(self) -> None:
        """Flush standard output."""
        self.stream.flush()


class StdioReader:
    """The LineReader our session needs, over stdin.

    A daemon thread does the blocking reads, so a process whose call is over
    exits at once even while that thread still waits on stdin.
    """

    def __init__(self, stream: _Lines) -> None:
        import threading

        self.stream = stream
        self.loop = asyncio.get_running_loop()
        self.lines: asyncio.Queue[bytes] = asyncio.Queue()
        threading.Thread(target=self._pump, name="agi-stdin", daemon=True).start()

    def _pump(self) -> None:
        while True:
            try:
                line = self.stream.readline()
            except (OSError, ValueError):
                line = b""
            self.loop.call_soon_threadsafe(self.lines.put_nowait, line)
            if not line:
                return

    async def readline(self) -> bytes:
        """The next line from standard input (read by a thread)."""
        return await self.lines.get()


class FdLines:
    """Unbuffered line reads on a file descriptor.

    pyst2 reads the environment block through it (as text) and our session
    the replies (as bytes), from the same buffer, so nothing read ahead is
    lost between the two; raw ``os.read`` keeps a reader thread from holding
    a lock at interpreter exit.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def readline(self) -> bytes:
        while b"\n" not in self.buffer:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                line, self.buffer = self.buffer, b""
                return line
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"


class TextLines:
    def __init__(self, lines: FdLines) -> None:
        self.lines = lines

    def readline(self) -> str:
        return self.lines.readline().decode("utf-8", errors="replace")




def read_classic_environment(stdin_fd: int, default_script: str) -> tuple[AgiEnvironment, FdLines]:
    """Read the environment block with pyst2 from ``stdin_fd``; returns it and the line source the
    session reads replies from (the same buffer, so nothing pyst2 read ahead is lost).

    The flow to run is the first AGI argument (``AGI(ivr_agi.py,ants-3400)``), else ``default_script``.
    """
    from asterisk.agi import AGI  # pyst2

    lines = FdLines(stdin_fd)
    agi = AGI(stdin=TextLines(lines), stdout=sys.stdout, stderr=open(os.devnull, "w"))
    variables = dict(agi.env)
    args = [variables[k] for k in sorted((k for k in variables if k.startswith("agi_arg_")),
                                         key=lambda k: int(k.rsplit("_", 1)[1]))]
    variables["agi_network_script"] = args[0] if args else default_script
    return build_environment([f"{k}: {v}" for k, v in variables.items()]), lines
