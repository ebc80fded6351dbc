"""An IVR server started inside the current process, on free ports (demo, simulate, tests)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from ..app import IvrServer
from ..config import Settings

__all__ = ["embedded_server"]


@contextlib.asynccontextmanager
async def embedded_server(
    settings: Settings | None = None, *, resolver=None, **overrides
) -> AsyncIterator[IvrServer]:
    """Start an :class:`IvrServer` on 127.0.0.1 with free ports; stop it on exit.

    Call records go to a temporary file unless ``records`` is given, and are
    also kept in memory so simulated calls can be checked against them.
    """
    with tempfile.TemporaryDirectory(prefix="ivr-embedded-") as tmp:
        base = settings or Settings()
        values = {
            "host": "127.0.0.1",
            "agi_port": 0,
            "audiosocket_port": 0,
            "admin_port": 0,
            "records": Path(tmp) / "calls.jsonl",
            "shutdown_grace": 5.0,
        }
        values.update(overrides)
        server = IvrServer(base.model_copy(update=values), allow_sim_clock=True, keep_records=True,
                           resolver=resolver)
        await server.start()
        try:
            yield server
        finally:
            await server.stop(grace=5.0)
