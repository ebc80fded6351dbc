"""The IVR server: wires settings, the line's profile, flows, services, call records and listeners."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from .. import dialplan
from ..admin.app import AdminConfigError, AdminServer
from ..admin.kpis import WINDOWS, Kpis
from ..admin.metrics import Metrics
from ..asterisk_config import shipped_asterisk_etc
from ..calls.call import FlowResolver
from ..calls.journey import JourneyTracker
from ..calls.record import JsonlRecordStore, MemoryRecordStore, RecordStore, TeeRecordStore
from ..calls.supervisor import APOLOGY_PROMPT, AgiIdentity, CallSupervisor
from ..config import DEFAULT_RULES, Settings, dynamic_prompts_dir
from ..edges.agi.errors import AgiError, CallerHungUp
from ..edges.agi.server import AgiLimits, FastAgiServer
from ..edges.agi.session import AgiSession
from ..edges.ami.controller import AmiController
from ..edges.audiosocket.server import AudioSocketServer
from ..engine.lookup_budget import LookupBudget
from ..engine.registry import FlowRegistry, ReloadReport
from ..engine.services import EngineServices
from ..engine.template import FILTERS
from ..interfaces import LineProfile, LineState, LookupSpec, Serving
from ..listening.speech import SpeechListener, SpeechSettings
from ..routing.callback_numbers import CallbackNumbers
from ..routing.callbacks import CallbackBook, CallbackDialer
from ..routing.keep_turn import TurnKeeper
from ..routing.router import RulesRouter
from ..routing.rules import RoutingRules
from ..store import make_store
from ..store.guard import CallPathStore
from ..store.postgres import PostgresStore
from ..store.record_sink import SharedRecords
from ..tracking.client import TrackingClient
from ..tts.catalog import Catalog
from ..tts.dynamic import DynamicPrompts
from ..versions.model import AuditAction, LineVersion
from .after_ivr import AfterIvr
from .contacts import ContactBook
from .journeys import JourneyKeeper
from .line import AcceptedLines, LineConfig, LineSources, load_line, load_line_apart, load_profile, start_line_worker, write_sources
from .lost_calls import LostCallWitness
from .notices import NoticeBoard
from .parts import PartStack
from .preview import PreviewReport, last_records, preview
from .publishing import DraftChecker, LineDesk, VersionFollower
from .resources import PeerAllowList, connection_caps, quiet_accept_errors, raise_descriptor_limit
from .shared_kpis import SharedKpis
from .status import StatusView

if TYPE_CHECKING:
    from ..listening.vosk import SpeechModel

__all__ = ["IvrServer", "LineRejected", "StartupError"]


log = structlog.get_logger("ivr.server")


class LineRejected(RuntimeError):
    """The configuration on disk was rejected and no accepted copy exists: nothing can be served."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class StartupError(RuntimeError):
    """The server cannot start as configured (a port taken, an unsafe admin binding): said in one line."""


class IvrServer:
    """Everything ``ivr serve`` runs, startable in-process (``ivr demo``, tests)."""

    def __init__(
        self,
        settings: Settings,
        *,
        profile: LineProfile | None = None,
        allow_sim_clock: bool = False,
        keep_records: bool = False,
        resolver: FlowResolver | None = None,
        watch_flows: bool = True,
        speech_model: SpeechModel | None = None,
    ) -> None:
        """Build every part, complete; nothing runs until :meth:`start`."""
        self.settings = settings
        #: A profile named in the settings is imported again in the reload worker; one given in code
        #: (tests) is loaded in a thread of this process.
        self.profile_ref = settings.profile if profile is None else None
        self.profile = profile or load_profile(settings.profile)
        self.watch_flows = watch_flows
        #: This node's name in records (and, when set by the operator, for the dialplan's fail-over).
        self.node = settings.node_name or socket.gethostname()
        self._build_line()
        self._build_records(keep_records)
        self._build_ami()
        self._build_routing()
        self._build_listening(speech_model)
        self._build_engine(resolver)
        self._build_calls(allow_sim_clock)
        self.admin: AdminServer | None = None
        self.parts = PartStack()
        self._grace: float | None = None
        self._reloads: set[asyncio.Task[ReloadReport]] = set()
        self._last_report = ReloadReport()
        self._admin_cap = settings.max_admin_connections
        self.listening = False

    def _build_line(self) -> None:
        """Where the flows, rules and catalog come from; nothing is served until the first load."""
        s = self.settings
        asterisk = s.asterisk_etc or shipped_asterisk_etc()
        if asterisk is None:
            log.warning("asterisk_config_unknown", why="flows are not checked against the dialplan and its queues: "
                                                       "set IVR_ASTERISK_ETC to Asterisk's configuration folder")
        self.line_sources = LineSources(flows=[s.flows_dir], catalog=s.prompts_dir / "catalog.yaml",
                                        rules=s.routing_rules or DEFAULT_RULES, asterisk=asterisk)
        self.accepted = AcceptedLines(s.accepted_dir)
        self.line: LineConfig | None = None
        self.line_state = LineState()
        self.catalog = Catalog(self.line_sources.catalog, {})  # until the first load
        self.rules: RoutingRules | None = None

    def _build_records(self, keep_records: bool) -> None:
        """The store, and where every call's record goes: the records file, the indicators, the shared
        store when several nodes share PostgreSQL (the indicators then count every node), memory (tests)."""
        s = self.settings
        self.metrics = Metrics(segment=self.profile.segment, service_level_s=s.service_level_seconds)
        self.kpis = Kpis(timezone_name=self.profile.timezone, segment=self.profile.segment)
        self.store = make_store(s.store, caller_key=s.caller_hash_key.get_secret_value(), node=self.node)
        # Once a version is published, the store's live version is what every node serves (publishing.py).
        self.follower = VersionFollower(self.store, self._apply_published, node=self.node, every=s.version_poll)
        self.memory_records = MemoryRecordStore() if keep_records else None
        self.shared_records: SharedRecords | None = None
        self.shared_kpis: SharedKpis | None = None
        kpi_sink: RecordStore = self.kpis
        if isinstance(self.store, PostgresStore):
            self.shared_records = SharedRecords(self.store, self.node)
            self.shared_kpis = kpi_sink = SharedKpis(self.kpis, self.store)
        stores = [JsonlRecordStore(s.records), kpi_sink, self.shared_records, self.memory_records]
        self.records = TeeRecordStore(*[store for store in stores if store is not None])
        # Who called about what (« once and done »), and what happens after the IVR (queues, callbacks):
        # kept in the store, where the indicators read them.
        self.contacts = ContactBook(self.store, contact_slot=self.profile.contact_slot, segment=self.profile.segment,
                                    days=s.once_and_done_days)
        self.after_ivr = AfterIvr(self.store, queues=lambda: self.rules.queues if self.rules is not None else (),
                                  service_level_s=s.service_level_seconds, once_and_done_days=s.once_and_done_days,
                                  windows=lambda: {name: self.kpis.window_start(name) for name in WINDOWS},
                                  on_once_and_done=self.metrics.once_and_done_now)
        # What calls ask of the store (their count of the day, a callback booking) costs them half a second
        # at most, and nothing while it keeps failing: a frozen database is not silence on the line.
        self.call_path_store = CallPathStore(self.store, timeout=self.settings.store_call_timeout)

    def _build_ami(self) -> None:
        """The AMI controller (none without a manager user), and the witness of a dead node's calls."""
        s = self.settings
        self.ami: AmiController | None = None
        if s.ami_user:
            self.ami = AmiController(s.ami_host, s.ami_port, s.ami_user, s.ami_secret.get_secret_value())
        self.lost_calls: LostCallWitness | None = None
        if self.ami is not None and self.shared_records is not None and isinstance(self.store, PostgresStore):
            # A node that dies leaves its callers to the dialplan's safety net and no record of them:
            # the nodes alive write one (an Asterisk call, one record whichever node writes it).
            self.lost_calls = LostCallWitness(self.node, self.shared_records, self.store.has_record,
                                              in_queue=self.ami.caller_in_queue)
            self.ami.subscribe(self.lost_calls)
        # What happens to this node's callers in the queues (wait, agent, abandon), kept in the store.
        segment = self.profile.segment_context
        tracker = JourneyTracker(self.node, claims=bool(s.node_name),
                                 segment_variable=dialplan.context_variable(segment) if segment else None)
        self.journeys = JourneyKeeper(tracker, self.store,
                                      on_ended=self.metrics.journey_ended) if self.ami is not None else None
        if self.journeys is not None and self.ami is not None:
            self.ami.subscribe(self.journeys)

    def _build_routing(self) -> None:
        """The router (the line's rules, live queue state) and the callback dialler."""
        s = self.settings
        self.numbers = CallbackNumbers(s.callback_international.split(","))
        ami_up = lambda: self.ami is not None and self.ami.connected  # noqa: E731 (read at each call)
        self.router = RulesRouter(None, self.profile.routing_facts, board=self.ami.board if self.ami else None,
                                  connected=ami_up, store=self.call_path_store, can_call_back=ami_up,
                                  numbers=self.numbers)
        self.dialer = CallbackDialer(self.store, self.ami, [], channel=s.callback_channel, context=s.callback_context,
                                     retry_after=s.callback_retry_after, numbers=self.numbers) if self.ami else None

    def _build_listening(self, speech_model: SpeechModel | None) -> None:
        """How questions hear the caller: keypad until a speech model is loaded (:meth:`start`)."""
        s = self.settings
        self.peers = PeerAllowList(s.peer_allow)
        self.audiosocket = AudioSocketServer(s.audiosocket_host or s.host, s.audiosocket_port,
                                             max_connections=s.max_audiosocket_connections, accept_peer=self.peers)
        self.speech_model = speech_model
        self._owns_model = speech_model is None
        self.listener = SpeechListener.keypad_only()
        self.metrics.count_from("ivr_listener_answers", "Questions heard by the speech listener, by how",
                                "how", lambda: self.listener.stats)

    def _build_engine(self, resolver: FlowResolver | None) -> None:
        """What flows run with, and the registry of the flows served."""
        s = self.settings
        self.tracking = TrackingClient(s.tracking_url, timeout=s.tracking_timeout)
        self.readbacks = DynamicPrompts(dynamic_prompts_dir(s), key=s.prompt_cache_key.get_secret_value().encode(),
                                        ttl=s.readback_ttl, max_files=s.readback_max_files)
        self.notice_board = NoticeBoard(self.store)
        self.engine = EngineServices(
            prompts=self.catalog, spoken=self.readbacks, router=self.router, listener=self.listener,
            notice=self.notice_board.live,
            lookups=dict(self.profile.lookups(self.tracking)), callbacks=CallbackBook(self.call_path_store, self.numbers),
            slots=self.profile.slots, filters={**FILTERS, **self.profile.filters}, validators=self.profile.validators,
            lookup_budget=LookupBudget(s.lookups_per_caller, s.lookup_window))
        self.flows = FlowRegistry(self.engine)
        self.resolver = resolver or self.flows

    def _build_calls(self, allow_sim_clock: bool) -> None:
        """The call supervisor (every call's promises) and the FastAGI server that brings calls to it."""
        s = self.settings
        self.supervisor = CallSupervisor(self.resolver, self.records, fallback_queue=self.profile.fallback_queue,
                                         apology_prompt=str(s.prompts_dir / "wav" / APOLOGY_PROMPT),
                                         allow_sim_clock=allow_sim_clock, on_call_ended=self.metrics.call_ended,
                                         on_call_closed=self.contacts.call_ended,
                                         node=self.node, claim_calls=bool(s.node_name))
        self.metrics.active.set_function(lambda: len(self.supervisor.live))
        self.turns = TurnKeeper(self.store, self.ami, self.numbers, _CurrentCatalog(self), self.readbacks,
                                queues=lambda: self.dialer.queues if self.dialer else ()) if self.ami else None
        self.agi = FastAgiServer(self._session, host=s.agi_host or s.host, port=s.agi_port,
                                 max_sessions=s.max_agi_connections, accept_peer=self.peers,
                                 limits=AgiLimits(max_line=s.max_line, env_timeout=s.env_timeout,
                                                  reply_timeout=s.reply_timeout))

    async def _session(self, session: AgiSession) -> None:
        """One AGI session: a waiting caller's key * in a queue (``keep-turn``), else a call."""
        if session.env.request_path != dialplan.KEEP_TURN_REQUEST:
            await self.supervisor(session)
            return
        identity = AgiIdentity.of(session.env)
        log.info("keep_turn_asked", channel=identity.channel, uniqueid=identity.uniqueid)
        if self.turns is None:  # no manager: nothing could hold the place; the dialplan queues the caller again
            with contextlib.suppress(AgiError):
                await session.stream_file(self.catalog.playback_path("tour_impossible"), "")
            return
        try:
            await self.turns.serve(session, session.env.named_arg("queue"), session.env.named_arg("position"),
                                   session.env.named_arg("priority"), identity.caller_number,
                                   withheld=identity.caller_withheld, uniqueid=identity.uniqueid)
        except CallerHungUp:
            log.info("keep_turn_hung_up", uniqueid=identity.uniqueid)
        except Exception as exc:  # the caller goes back to the queue at their place (the dialplan)
            log.error("keep_turn_failed", error=f"{type(exc).__name__}: {exc}", uniqueid=identity.uniqueid)

    @property
    def agi_port(self) -> int:
        """The port FastAGI listens on."""
        return self.agi.bound_port

    @property
    def admin_url(self) -> str | None:
        """The console's address (None while it does not run)."""
        return f"http://{self.admin.host}:{self.admin.bound_port}" if self.admin is not None else None

    def _lookup_specs(self) -> dict[str, LookupSpec]:
        return {name: LookupSpec.of(service) for name, service in self.engine.lookups.items()}

    def draft_checker(self) -> DraftChecker:
        """What checks a configuration given as texts (a draft, a version) as this node would serve it."""
        return DraftChecker(self.profile, self._lookup_specs(), audio_dir=self._audio_dir(),
                            asterisk=self.line_sources.asterisk,
                            profile_ref=self.profile_ref if self.listening else None, apart=True)

    async def _replay(self, config: LineConfig, calls: int, since: float | None) -> PreviewReport:
        """The last ``calls`` recorded calls (every node's with PostgreSQL) replayed through ``config``."""
        shared = self.store if isinstance(self.store, PostgresStore) else None
        records = await last_records(calls, since=since, records_file=self.settings.records, store=shared)
        return await preview(config, self.profile, self._lookup_specs(), records)

    def _audio_dir(self) -> Path:
        return self.line_sources.audio_dir or self.line_sources.catalog.parent / "wav"

    async def _apply_published(self, version: LineVersion) -> list[str]:
        """Serve a published version to new calls (the follower's ``apply``); the errors that kept this
        node from it (it keeps what it serves)."""
        folder = self.accepted.folder / ".published" / str(version.number)
        try:
            sources = await asyncio.to_thread(write_sources, version.texts, folder, audio_dir=self._audio_dir(),
                                              asterisk=self.line_sources.asterisk)
        except (OSError, ValueError) as exc:
            config, errors = None, [f"version {version.number} cannot be written to {folder}: {exc}"]
        else:
            config, errors = await self.draft_checker().load(sources)
        if errors or config is None:
            self.line_state.rejected = errors
            log.error("version_rejected", number=version.number, errors=errors)
            self.metrics.flow_reloads.labels("rejected").inc()
            return errors
        self._last_report = self._apply(config, Serving.PUBLISHED)
        self.line_state.published = version.number
        self.metrics.flow_reloads.labels("ok").inc()
        try:
            await asyncio.to_thread(self.accepted.save, config)
            await asyncio.to_thread(_keep_newest, folder.parent, 3)
        except OSError as exc:
            log.warning("accepted_copy_not_saved", folder=str(self.accepted.folder), error=str(exc))
        return []

    async def reload_line(self, actor: str = "", origin: str = "") -> ReloadReport:
        """Load flows, rules and catalog again (SIGHUP, a file change, the admin page), in a worker
        process while calls run: all of them apply to new calls, or none and the running version stays.
        Once versions are published, the store's live version is read and applied again instead."""
        report = await self._reload()
        await self.audit(actor or f"node {self.node}", AuditAction.RELOAD if report.ok else AuditAction.RELOAD_REJECTED,
                         f"version {self.line_state.published}" if self.line_state.published else "files",
                         origin or "node", {"errors": report.errors[:20]} if report.errors else
                         {"applied": sorted(report.applied), "removed": report.removed})
        return report

    async def audit(self, actor: str, action: str, target: str, origin: str, detail: dict[str, Any]) -> None:
        """Append to the audit trail; a store that fails or is slow loses the entry (logged), never the action."""
        try:
            await asyncio.wait_for(self.store.add_audit(actor, action, target, origin, detail), 5.0)
        except Exception as exc:
            log.warning("audit_not_kept", action=action, actor=actor, error=type(exc).__name__)

    async def _reload(self) -> ReloadReport:
        if self.follower.seen is not None:
            self.follower.seen = None
            self._last_report = ReloadReport(errors=["the store's live version cannot be read now"])
            try:
                await self.follower.check()
            except Exception as exc:
                return ReloadReport(errors=[f"the store's live version cannot be read now ({type(exc).__name__})"])
            return self._last_report if not self.line_state.rejected else ReloadReport(errors=self.line_state.rejected)
        config, errors = await load_line_apart(self.line_sources, self.profile, self._lookup_specs(),
                                               profile_ref=self.profile_ref if self.listening else None)
        if config is None:
            self.line_state.rejected = errors
            log.error("line_rejected", errors=errors, serving=self.line_state.serving.value,
                      version=self.line_state.version)
            report = ReloadReport(errors=errors)
        else:
            report = self._apply(config, Serving.FILES)
            try:
                await asyncio.to_thread(self.accepted.save, config)
            except OSError as exc:
                log.warning("accepted_copy_not_saved", folder=str(self.accepted.folder), error=str(exc))
        self.metrics.flow_reloads.labels("ok" if report.ok else "rejected").inc()
        return report

    def _apply(self, config: LineConfig, serving: Serving) -> ReloadReport:
        self.catalog = self.engine.prompts = config.catalog
        self.rules = self.router.rules = config.rules
        if self.dialer is not None:
            self.dialer.queues = list(config.rules.queues)
        report = self.flows.apply(config.flows)
        segment = self.profile.slots.get(self.profile.segment or "")
        self.metrics.prime(flows={name: list(flow.model.nodes) for name, flow in self.flows.loaded().items()},
                           queues=config.rules.queues, segments=segment.values if segment is not None else ())
        self.line = config
        self.line_state = LineState(serving, config.version)
        log.info("line_applied", version=config.version, serving=serving.value, flows=sorted(config.flows),
                 applied=sorted(report.applied), removed=report.removed)
        if config.warnings:  # accepted, yet worth a look (the console's flows page lists them too)
            log.warning("line_warnings", warnings=config.warnings)
        return report

    async def _first_load(self) -> None:
        """The live published version, when there is one; else the files on disk. If that cannot be
        served, the last accepted copy (and say so). When the store cannot say which version is live, the
        accepted copy (what this node served last: the files may be drafts), else the files. Else nothing
        can be served and the server does not start."""
        store_away = False
        try:
            live = await asyncio.wait_for(self.follower.check(), 10.0)
        except Exception as exc:
            log.error("live_version_unknown", error=type(exc).__name__)
            live, store_away = None, True
        if store_away:
            report = ReloadReport(errors=["the store cannot say which version is live"])
        elif live is None:
            report = await self.reload_line()
        else:
            report = ReloadReport(errors=self.line_state.rejected)
        if report.ok:
            return
        kept = self.accepted.sources(self.catalog.wav_dir)
        if kept is not None:
            config, kept_errors = await asyncio.to_thread(load_line, kept, self.profile, self._lookup_specs())
            if config is not None:
                self._apply(config, Serving.ACCEPTED_COPY)
                self.line_state.rejected = report.errors
                log.error("serving_accepted_copy", version=config.version, folder=str(self.accepted.folder),
                          rejected=report.errors)
                return
            log.error("accepted_copy_rejected", errors=kept_errors)
        if store_away:
            report = await self.reload_line()
            if report.ok:
                return
        raise LineRejected(report.errors)

    async def _watch_line(self, interval: float) -> None:
        """Reload when a source file changes (flows, rules, catalog, rendered prompts' manifest)."""
        def signature() -> tuple[tuple[str, int | None, int | None], ...]:
            out: list[tuple[str, int | None, int | None]] = []
            for path in self.line_sources.files():
                try:
                    st = path.stat()
                    out.append((str(path), st.st_mtime_ns, st.st_size))
                except OSError:
                    out.append((str(path), None, None))
            return tuple(out)

        seen = await asyncio.to_thread(signature)
        while True:
            await asyncio.sleep(interval)
            try:
                now = await asyncio.to_thread(signature)
                if now != seen:
                    seen = now
                    if self.follower.seen is not None:  # published versions rule: files on disk are drafts
                        log.info("files_changed_not_applied", why="the line serves published versions: "
                                 "publish them (ivr flows publish) for them to go live")
                        continue
                    await self.reload_line()
            except Exception:
                log.exception("line_watch_failed")

    def request_reload(self) -> None:
        """A reload from a signal handler (it cannot await)."""
        task = asyncio.get_running_loop().create_task(self.reload_line())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def _load_speech_model(self) -> SpeechModel | None:
        """Load the Vosk model off the event loop; None (keypad only) when there is none."""
        from ..listening.vosk import ModelMissing, SpeechModel, find_model

        if self.speech_model is not None:
            return self.speech_model
        path = find_model(self.settings.vosk_model)
        if path is None:
            log.warning("speech_model_missing", configured=str(self.settings.vosk_model or ""),
                        hint="ivr model fetch, or set IVR_VOSK_MODEL; questions use the keypad")
            return None
        try:
            model = self.speech_model = await asyncio.to_thread(
                SpeechModel, path, busy_lag=self.settings.speech_busy_lag, chunk_frames=self.settings.speech_chunk_frames)
        except (ModelMissing, Exception) as exc:  # a broken model must not stop the line
            log.error("speech_model_failed", path=str(path), error=str(exc))
            return None
        if self._owns_model:
            self.parts.started("speech model", model.close)
        return model

    async def _start_speech(self) -> None:
        """Load the Vosk model and listen for AudioSocket; without a model, keypad only."""
        model = await self._load_speech_model() if self.settings.speech else None
        if model is None:
            return
        await self.audiosocket.start()
        self.parts.started("audiosocket", self.audiosocket.stop)
        advertise = self.settings.audiosocket_advertise or f"{self.audiosocket.host}:{self.audiosocket.bound_port}"
        self.listener.enable_speech(model, SpeechSettings(
            advertise=advertise, pace=self.settings.audiosocket_pace, record_dir=self.settings.record_dir,
            close_at_pause=self.settings.speech_close_at_pause, vad=await self._voice_detector()), self.audiosocket)

    async def _start_speech_by_recording(self) -> None:
        """Classic AGI (one process per call): speech through RECORD FILE, when a folder is set for it."""
        if not self.settings.speech or self.settings.record_dir is None:
            return
        model = await self._load_speech_model()
        if model is not None:
            self.listener.enable_speech(model, SpeechSettings(record_dir=self.settings.record_dir,
                                                              vad=await self._voice_detector()))

    async def _voice_detector(self) -> str:
        """The voice detector set (``IVR_VAD``), made once to check it can be (a model is loaded off the
        event loop). When it cannot, the default, then the energy endpointer, said loudly: the line
        keeps listening."""
        from ..audio.voicing import make_voicing

        wanted = self.settings.vad
        for kind in dict.fromkeys([wanted, "webrtc", "energy"]):
            try:
                await asyncio.to_thread(make_voicing, kind)
            except Exception as exc:  # a missing package or a broken model must not stop the line
                log.error("voice_detector_unavailable", vad=kind, error=str(exc))
                continue
            log.info("voice_detector", vad=kind, wanted=wanted)
            return kind
        return "energy"  # (needs nothing: it cannot fail)

    def _task(self, name: str, coro: Coroutine[Any, Any, None]) -> None:
        """A background task of the server, cancelled when it stops."""
        task = asyncio.create_task(coro)

        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.parts.started(name, cancel)

    async def start(self, *, listen: bool = True) -> None:
        """Open the store, connect AMI, load speech and flows; with ``listen``, accept FastAGI calls.

        ``listen=False`` is the classic-AGI mode (one process per call): no
        listeners, no AMI connection, no AudioSocket (speech only through the
        RECORD FILE fallback when ``record_dir`` is set). Every part started is stopped by :meth:`stop`,
        in the reverse order, even when one fails to stop.
        """
        self.parts.started("records", self.records.close)
        self.parts.started("tracking client", self.tracking.close)
        await self.store.open()
        self.parts.started("store", self.store.close)
        if self.shared_records is not None:
            self.shared_records.start()
            self.parts.started("shared records", self.shared_records.stop)
        await asyncio.to_thread(self.readbacks.sweep)
        await self.notice_board.refresh()
        if not listen:
            await self._start_speech_by_recording()
            await self._first_load()
            return
        await self._start_services()
        await self._first_load()
        if self.profile_ref is not None:
            await start_line_worker(self.profile_ref)
        if self.watch_flows and self.settings.flow_watch_interval > 0:
            self._task("flow watch", self._watch_line(self.settings.flow_watch_interval))
        self._task("readback sweep", self._sweep_readbacks())
        self._task("notices", self.notice_board.run(self.settings.notice_poll))
        self._task("published versions", self.follower.run())
        self._task("figures after the IVR", self.after_ivr.run())
        self.contacts.start()
        self.parts.started("contacts", self.contacts.stop)
        self.listening = True
        # The admin server first: a port that is taken stops the start before calls are taken.
        await self._start_admin()
        self._task("tracking probe", self._probe_tracking())
        await self.agi.start()
        self.parts.started("agi", self._stop_agi)

    async def _start_services(self) -> None:
        """What a listening node runs besides calls: indicators, AMI and its witness, the dialler, speech."""
        self._fit_connection_caps()
        # The dashboard's figures survive a restart: rebuilt from the records file, or from the
        # shared store (every node's).
        if self.shared_kpis is not None and self.shared_records is not None:
            # What a crash may have left unsent goes again (a call already there is left alone).
            queued = await asyncio.to_thread(self.shared_records.resend_file, self.settings.records)
            log.info("records_resent", queued=queued)
            self._task("shared indicators", self.shared_kpis.run())
        else:
            await asyncio.to_thread(self.kpis.load_jsonl, self.settings.records)
        if self.ami is not None:
            self.ami.start()
            self.parts.started("ami", self.ami.stop)
            if self.lost_calls is not None:
                self.parts.started("lost calls witness", self.lost_calls.stop)
            if self.journeys is not None:
                self.journeys.start()
                self.parts.started("journeys", self.journeys.stop)
        else:
            log.warning("ami_not_configured", hint="set IVR_AMI_USER / IVR_AMI_SECRET; routing uses the rules alone")
        if self.dialer is not None:
            self.dialer.start()
            self.parts.started("callback dialler", self.dialer.stop)
        if self.turns is not None:
            self.parts.started("kept turns", self.turns.stop)
        await self._start_speech()

    def _fit_connection_caps(self) -> None:
        """Raise the open-files limit, and shrink the listeners' caps if they still would not fit in it."""
        s = self.settings
        caps = connection_caps(raise_descriptor_limit(), s.max_agi_connections, s.max_audiosocket_connections,
                               s.max_admin_connections)
        self.agi.max_sessions = caps.agi
        self.audiosocket.max_connections = caps.audiosocket
        self._admin_cap = caps.admin

    async def _sweep_readbacks(self, every: float = 600.0) -> None:
        """Expired readbacks (they speak personal data) leave the disk within ten minutes."""
        while True:
            await asyncio.sleep(every)
            try:
                await asyncio.to_thread(self.readbacks.sweep)
            except OSError as exc:
                log.warning("readback_sweep_failed", error=str(exc))

    async def _start_admin(self) -> None:
        if self.settings.admin_port < 0:
            return
        try:
            status = StatusView(self.flows, self.supervisor, self.kpis, self.metrics, self.tracking, self.ami,
                                listening=lambda: self.listening, speech_loaded=lambda: self.speech_model is not None,
                                speech_load=lambda: self.speech_model.load() if self.speech_model is not None else None,
                                reload=self.reload_line, line_state=lambda: self.line_state,
                                speech_enabled=self.settings.speech, store=self.store,
                                shared_records=self.shared_records, shared_kpis=self.shared_kpis,
                                call_path_store=self.call_path_store, dialer=self.dialer,
                                notice_board=self.notice_board, after_ivr=self.after_ivr)
            desk = LineDesk(self.store, self.draft_checker, lambda: self.line.texts if self.line is not None else {},
                            replay=self._replay)
            self.admin = AdminServer(status, self.settings.admin_host or self.settings.host, self.settings.admin_port,
                                     self.settings.admin_token.get_secret_value(),
                                     hosts=self.settings.admin_allowed_hosts.split(","),
                                     max_connections=self._admin_cap, brand=self.profile.console_name,
                                     accounts=self.store, desk=desk,
                                     session_seconds=self.settings.session_hours * 3600)
            await self.admin.start()
            self.parts.started("admin", self.admin.stop)
        except AdminConfigError as exc:
            raise StartupError(str(exc)) from None
        except OSError as exc:
            # A dashboard that silently is not there is worse than a clear stop: the operator
            # frees the port, picks another, or disables admin (IVR_ADMIN_PORT=-1).
            raise StartupError(f"the admin HTTP server cannot listen on {self.admin_address}: {exc.strerror or exc}"
                               " (use --admin-port, or --admin-port -1 to run without it)") from None

    @property
    def admin_address(self) -> str:
        """Where the console listens, as ``host:port``."""
        return f"{self.settings.admin_host or self.settings.host}:{self.settings.admin_port}"

    async def _probe_tracking(self, every: float = 15.0) -> None:
        """Ask the tracking service's health every ``every`` s, so an outage shows (and alerts) even
        when no call is looking a file up."""
        while True:
            state = await self.tracking.health()
            self.metrics.tracking_up.set(1 if state == "ok" else 0)
            await asyncio.sleep(every)

    async def stop(self, grace: float | None = None) -> None:
        """Stop every part started, the last first: calls in progress get ``grace`` seconds (the
        settings' shutdown grace by default) before they are handed to an agent."""
        self._grace = grace
        await self.parts.stop_all()

    async def _stop_agi(self) -> None:
        grace = self.settings.shutdown_grace if self._grace is None else self._grace
        await self.agi.stop(grace)
        self.listening = False

    async def serve_forever(self) -> None:
        """Run until SIGTERM/SIGINT (SIGHUP reloads flows), then drain live calls and exit."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        # Signal handlers first: once the ports listen, a SIGHUP must reload, never kill (its default action).
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        quiet_accept_errors(loop)
        try:
            await self.start()
        except BaseException:
            await self.stop(grace=0)
            raise
        await stop.wait()
        log.info("shutdown_requested", live_calls=self.agi.active_sessions)
        await self.stop()


class _CurrentCatalog:
    """The prompt catalog the server serves now (a reload replaces it)."""

    def __init__(self, server: IvrServer) -> None:
        self.server = server

    def playback_path(self, prompt_id: str, *, slow: bool = False) -> str:
        return self.server.catalog.playback_path(prompt_id, slow=slow)


def _keep_newest(folder: Path, keep: int) -> None:
    """Remove all but the ``keep`` most recent sub-folders of ``folder``."""
    kept = sorted((p for p in folder.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[keep:]:
        shutil.rmtree(old, ignore_errors=True)
