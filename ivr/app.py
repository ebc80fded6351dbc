"""The composition root: wires settings, flows, call records and listeners into one server."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass

import structlog

from .agi.server import AgiLimits, FastAgiServer
from .calls.call import FlowResolver
from .calls.handler import CallHandler
from .calls.record import JsonlRecordStore, MemoryRecordStore, TeeRecordStore
from .config import Settings
from .tts.catalog import load_catalog

__all__ = ["IvrServer"]

log = structlog.get_logger("ivr.app")


class IvrServer:
    """Everything ``ivr serve`` runs, startable in-process (``ivr demo``, tests)."""

    def __init__(
        self,
        settings: Settings,
        *,
        allow_sim_clock: bool = False,
        keep_records: bool = False,
        resolver: FlowResolver | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings.prompts_dir / "catalog.yaml")
        self.memory_records = MemoryRecordStore() if keep_records else None
        file_store = JsonlRecordStore(settings.records)
        self.records = TeeRecordStore(file_store, self.memory_records) if self.memory_records else file_store
        self.resolver = resolver or self._build_resolver()
        self.handler = CallHandler(
            self.resolver,
            self.records,
            apology_prompt=self.catalog.playback_path("desole_erreur"),
            allow_sim_clock=allow_sim_clock,
        )
        self.agi = FastAgiServer(
            self.handler,
            host=settings.host,
            port=settings.agi_port,
            limits=AgiLimits(
                max_line=settings.max_line,
                env_timeout=settings.env_timeout,
                reply_timeout=settings.reply_timeout,
            ),
        )
        self._stopped = asyncio.Event()

    def _build_resolver(self):
        from .engine.builtin import KeypadMenuFlow, StaticResolver

        return StaticResolver({"ants-3400": KeypadMenuFlow(self.catalog)})

    @property
    def agi_port(self) -> int:
        return self.agi.bound_port

    async def start(self) -> None:
        await self.agi.start()

    async def stop(self, grace: float | None = None) -> None:
        await self.agi.stop(self.settings.shutdown_grace if grace is None else grace)
        self.records.close()
        self._stopped.set()

    async def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT, then drain live calls and exit."""
        await self.start()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutdown_requested", live_calls=self.agi.active_sessions)
        await self.stop()
