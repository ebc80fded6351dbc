"""Classic AGI (one process per call, stdin/stdout), for sites that cannot open a FastAGI port.

pyst2 reads the environment block and catches the SIGHUP Asterisk sends a
classic AGI process when the caller hangs up; the call then runs through the
same :class:`~ivr.agi.session.AgiSession`, engine and call handler as FastAGI,
so the flows, records and safety nets are identical. The flow is the first
AGI argument (``AGI(ivr_agi.py,ants-3400)``), ``ants-3400`` by default.
"""

from __future__ import annotations

import asyncio
import os
import sys

__all__ = ["main", "run_classic"]


class _StdioWriter:
    """The LineWriter our session needs, over the process's stdout."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, data: bytes) -> None:
        self.stream.write(data)

    async def drain(self) -> None:
        self.stream.flush()


class _StdioReader:
    """The LineReader our session needs, over stdin.

    A daemon thread does the blocking reads, so a process whose call is over
    exits at once even while that thread still waits on stdin.
    """

    def __init__(self, stream) -> None:
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
        return await self.lines.get()


async def run_classic(agi, stdin, stdout) -> int:
    """Run one call on an already-initialised pyst2 ``AGI`` object; returns the exit status."""
    from .agi.protocol import build_environment
    from .agi.session import AgiSession
    from .app import IvrServer
    from .config import load_settings
    from .logs import configure_logging

    settings = load_settings()
    # Asterisk shows a classic AGI's stderr on its console: keep it to warnings.
    configure_logging("json", os.environ.get("IVR_LOG_LEVEL", "warning"))
    variables = dict(agi.env)
    args = [variables[k] for k in sorted((k for k in variables if k.startswith("agi_arg_")),
                                         key=lambda k: int(k.rsplit("_", 1)[1]))]
    # The flow to run: the first AGI argument, else the default line.
    variables["agi_network_script"] = args[0] if args else "ants-3400"
    env = build_environment([f"{k}: {v}" for k, v in variables.items()])
    server = IvrServer(settings, watch_flows=False, allow_sim_clock=settings.allow_sim_clock)
    await server.start(listen=False)
    session = AgiSession(_StdioReader(stdin), _StdioWriter(stdout), env,
                         reply_timeout=settings.reply_timeout)
    # Asterisk signals a classic AGI's hang-up with SIGHUP (no HANGUP line on stdin).
    import signal

    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, session.mark_hung_up)
    try:
        await server.handler(session)
    finally:
        await session.close()
        await server.stop()
        # Closing stdout is how a classic AGI ends the session: the dialplan goes on.
        stdout.close()
    return 0


class _FdLines:
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


class _TextLines:
    def __init__(self, lines: _FdLines) -> None:
        self.lines = lines

    def readline(self) -> str:
        return self.lines.readline().decode("utf-8", errors="replace")


def main() -> int:
    from asterisk.agi import AGI

    lines = _FdLines(sys.stdin.fileno())
    agi = AGI(stdin=_TextLines(lines), stdout=sys.stdout, stderr=open(os.devnull, "w"))
    return asyncio.run(run_classic(agi, lines, sys.stdout.buffer))


if __name__ == "__main__":
    sys.exit(main())
