"""An IVR server started inside the current process, on free ports (demo, simulate, tests)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..tracking.stub import StubConfig, start_stub
from .app import IvrServer

if TYPE_CHECKING:
    from ..calls.call import FlowResolver
    from ..listening.vosk import SpeechModel

__all__ = ["embedded_server"]


@contextlib.asynccontextmanager
async def embedded_server(
    settings: Settings | None = None, *, resolver: FlowResolver | None = None, stub: StubConfig | None = None,
    with_stub: bool = True, speech_model: SpeechModel | None = None, **overrides: Any,
) -> AsyncIterator[IvrServer]:
    """Start the tracking stub and an :class:`IvrServer` on 127.0.0.1 with free ports; stop both on exit.

    Call records go to a temporary file unless ``records`` is given, and are
    also kept in memory so simulated calls can be checked against them.
    """
    with tempfile.TemporaryDirectory(prefix="ivr-embedded-") as tmp:
        stub_runner = None
        values = {
            "host": "127.0.0.1",
            "agi_port": 0,
            "audiosocket_port": 0,
            "admin_port": 0,
            "records": Path(tmp) / "calls.jsonl",
            "store": Path(tmp) / "ivr.sqlite",
            "accepted_dir": Path(tmp) / "accepted",
            "shutdown_grace": 5.0,
            # In-process, prompts go to the simulated caller as fast as it takes them.
            "audiosocket_pace": 0.0,
        }
        if with_stub:
            stub_runner, stub_port = await start_stub(stub or StubConfig(), "127.0.0.1", 0)
            values["tracking_url"] = f"http://127.0.0.1:{stub_port}"
        base = settings or Settings()
        if base.dynamic_prompts_dir is None:
            # Readbacks of its own: a server started here (a test, the demo) shares no cache with other
            # processes, whose sweeps would run on other clocks (a test's frozen one).
            values["dynamic_prompts_dir"] = Path(tmp) / "readbacks"
        values.update(overrides)
        server = IvrServer(base.model_copy(update=values), allow_sim_clock=True, keep_records=True,
                           resolver=resolver, watch_flows=False, speech_model=speech_model)
        try:
            await server.start()
            yield server
        finally:  # a start that failed half way stops what it had started, as a clean stop does
            await server.stop(grace=5.0)
            if stub_runner is not None:
                await stub_runner.cleanup()
