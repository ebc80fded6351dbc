"""Classic AGI (one process per call, stdin/stdout), for sites that cannot open a FastAGI port.

The call runs through the same session, engine and call supervisor as FastAGI, so the flows,
records and safety nets are identical. ``AGI(ivr_agi.py,ants-3400)``: the flow is the first AGI
argument (``ants-3400`` by default).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from ..edges.agi.classic import FdLines
    from ..edges.agi.protocol import AgiEnvironment

__all__ = ["main", "run_classic"]


async def run_classic(env: AgiEnvironment, lines: FdLines, stdout: BinaryIO) -> int:
    """Run one call whose environment block was read (``lines`` holds what follows it)."""
    from ..config import load_settings
    from ..edges.agi.classic import StdioReader, StdioWriter
    from ..edges.agi.session import AgiSession
    from ..logs import configure_logging
    from .app import IvrServer

    settings = load_settings()
    # Asterisk shows a classic AGI's stderr on its console: keep it to warnings.
    configure_logging("json", settings.log_level if "log_level" in settings.model_fields_set else "warning")
    server = IvrServer(settings, watch_flows=False, allow_sim_clock=settings.allow_sim_clock)
    await server.start(listen=False)
    session = AgiSession(StdioReader(lines), StdioWriter(stdout), env, reply_timeout=settings.reply_timeout)
    # Asterisk signals a classic AGI's hang-up with SIGHUP (no HANGUP line on stdin).
    asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, session.mark_hung_up)
    try:
        await server.supervisor(session)
    finally:
        await session.close()
        await server.stop()
        # Closing stdout is how a classic AGI ends the session: the dialplan goes on.
        stdout.close()
    return 0


def main() -> int:
    """Run one call as a classic AGI script (standard input and output); the exit status."""
    from ..edges.agi.classic import read_classic_environment

    env, lines = read_classic_environment(sys.stdin.fileno(), default_script="ants-3400")
    return asyncio.run(run_classic(env, lines, sys.stdout.buffer))


if __name__ == "__main__":
    sys.exit(main())
