"""The composition root: wires settings, flows, services, call records and listeners into one server."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from .admin.app import AdminConfigError, AdminServer
from .admin.kpis import Kpis
from .admin.metrics import Metrics
from .agi.server import AgiLimits, FastAgiServer
from .audio.audiosocket import AudioSocketServer
from .calls.call import FlowResolver
from .calls.handler import CallHandler
from .calls.record import JsonlRecordStore, MemoryRecordStore, TeeRecordStore
from .config import Settings, dynamic_prompts_dir
from .engine.registry import FlowRegistry
from .ami.controller import AmiController
from .engine.runner import EngineServices
from .routing.callbacks import CallbackBook, CallbackDialer
from .routing.router import RulesRouter
from .routing.rules import DEFAULT_RULES, load_rules
from .store.sqlite import SqliteStore
from .speech.listener import SpeechListener, SpeechSettings
from .tracking.client import TrackingClient
from .tts.catalog import load_catalog
from .tts.dynamic import DynamicPrompts

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
        watch_flows: bool = True,
        speech_model=None,
    ) -> None:
        self.settings = settings
        self.catalog = load_catalog(settings.prompts_dir / "catalog.yaml")
        self.memory_records = MemoryRecordStore() if keep_records else None
        self.metrics = Metrics()
        self.kpis = Kpis()
        stores = [JsonlRecordStore(settings.records), self.kpis]
        if self.memory_records is not None:
            stores.append(self.memory_records)
        self.records = TeeRecordStore(*stores)
        self.tracking = TrackingClient(settings.tracking_url, timeout=settings.tracking_timeout)
        self.engine = EngineServices(
            catalog=self.catalog,
            dynamic=DynamicPrompts(dynamic_prompts_dir(settings)),
            services={"tracking": self.tracking},
        )
        self.store = SqliteStore(settings.store)
        self.ami: AmiController | None = None
        if settings.ami_user:
            self.ami = AmiController(settings.ami_host, settings.ami_port, settings.ami_user,
                                     settings.ami_secret.get_secret_value())
        self.rules = load_rules(settings.routing_rules or DEFAULT_RULES)
        self.engine.router = RulesRouter(
            self.rules,
            board=self.ami.board if self.ami else None,
            connected=lambda: self.ami is not None and self.ami.connected,
            store=self.store,
            can_call_back=lambda: self.ami is not None and self.ami.connected,
        )
        self.engine.callbacks = CallbackBook(self.store)
        self.dialer = CallbackDialer(self.store, self.ami, channel=settings.callback_channel,
                                     context=settings.callback_context,
                                     retry_after=settings.callback_retry_after) if self.ami else None
        self.audiosocket = AudioSocketServer(settings.host, settings.audiosocket_port)
        self.speech_model = speech_model
        self._owns_model = speech_model is None
        self.listener = SpeechListener(None, None)
        self.engine.listener = self.listener
        self.flows = FlowRegistry(settings.flows_dir, self.engine)
        self.resolver = resolver or self.flows
        self.watch_flows = watch_flows
        self.handler = CallHandler(
            self.resolver,
            self.records,
            apology_prompt=self.catalog.playback_path("desole_erreur"),
            allow_sim_clock=allow_sim_clock,
            metrics=self.metrics,
        )
        self.metrics.active.set_function(lambda: len(self.handler.live))
        self.admin: AdminServer | None = None
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
        self._tasks: list[asyncio.Task] = []
        self._listening = False

    @property
    def agi_port(self) -> int:
        return self.agi.bound_port

    def reload_flows(self):
        """Reload flow files (SIGHUP, file change, admin): valid changes apply to new calls."""
        report = self.flows.reload()
        self.metrics.flow_reloads.labels("ok" if report.ok else "rejected").inc()
        return report

    async def _load_speech_model(self) -> bool:
        """Load the Vosk model off the event loop; False (keypad only) when there is none."""
        from .speech.engine import ModelMissing, SpeechModel, find_model

        if self.speech_model is not None:
            return True
        path = find_model(self.settings.vosk_model)
        if path is None:
            log.warning("speech_model_missing", configured=str(self.settings.vosk_model or ""),
                        hint="ivr model fetch, or set IVR_VOSK_MODEL; questions use the keypad")
            return False
        try:
            self.speech_model = await asyncio.to_thread(SpeechModel, path)
        except (ModelMissing, Exception) as exc:  # a broken model must not stop the line
            log.error("speech_model_failed", path=str(path), error=str(exc))
            return False
        self.listener.model = self.speech_model
        self.listener.settings = SpeechSettings(record_dir=self.settings.record_dir)
        return True

    async def _start_speech(self) -> None:
        """Load the Vosk model and listen for AudioSocket; without a model, keypad only."""
        if not self.settings.speech or not await self._load_speech_model():
            return
        await self.audiosocket.start()
        advertise = self.settings.audiosocket_advertise or f"{self.settings.host}:{self.audiosocket.bound_port}"
        self.listener.audiosocket = self.audiosocket
        self.listener.model = self.speech_model
        self.listener.settings = SpeechSettings(advertise=advertise, pace=self.settings.audiosocket_pace,
                                                record_dir=self.settings.record_dir)

    async def start(self, *, listen: bool = True) -> None:
        """Open the store, connect AMI, load speech and flows; with ``listen``, accept FastAGI calls.

        ``listen=False`` is the classic-AGI mode (one process per call): no
        listeners, no AMI connection, no AudioSocket (speech only through the
        RECORD FILE fallback when ``record_dir`` is set).
        """
        await self.store.open()
        if listen:
            # The dashboard's figures survive a restart: rebuilt from the records file. Not in
            # classic AGI mode, where each call is a process of its own and has no dashboard.
            await asyncio.to_thread(self.kpis.load_jsonl, self.settings.records)
            if self.ami is not None:
                self.ami.start()
            else:
                log.warning("ami_not_configured", hint="set IVR_AMI_USER / IVR_AMI_SECRET; routing uses the rules alone")
            if self.dialer is not None:
                self.dialer.start()
            await self._start_speech()
        elif self.settings.speech and self.settings.record_dir is not None:
            await self._load_speech_model()
        self.reload_flows()
        if listen and self.watch_flows and self.settings.flow_watch_interval > 0:
            self._tasks.append(asyncio.create_task(self.flows.watch(self.settings.flow_watch_interval)))
        self._listening = listen
        if listen:
            await self.agi.start()
            await self._start_admin()

    async def _start_admin(self) -> None:
        if self.settings.admin_port < 0:
            return
        try:
            self.admin = AdminServer(self, self.settings.host, self.settings.admin_port,
                                     self.settings.admin_token.get_secret_value())
            await self.admin.start()
        except (AdminConfigError, OSError) as exc:
            # The line keeps answering calls without its dashboard.
            log.error("admin_not_started", error=str(exc))
            self.admin = None

    async def stop(self, grace: float | None = None) -> None:
        if self.admin is not None:
            await self.admin.stop()
        if self._listening:
            await self.agi.stop(self.settings.shutdown_grace if grace is None else grace)
        await self.audiosocket.stop()
        if self.speech_model is not None and self._owns_model:
            self.speech_model.close()
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.dialer is not None:
            await self.dialer.stop()
        if self.ami is not None:
            await self.ami.stop()
        await self.tracking.close()
        await self.store.close()
        self.records.close()

    async def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT (SIGHUP reloads flows), then drain live calls and exit."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # Handlers first: once the ports listen, a SIGHUP must reload, never kill (its default action).
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_flows)
        await self.start()
        await stop.wait()
        log.info("shutdown_requested", live_calls=self.agi.active_sessions)
        await self.stop()
