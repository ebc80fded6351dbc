"""The server as the admin pages see it (:class:`ivr.admin.status.ServerStatus`)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import structlog

from ..admin.daily import DayFigures, day_figures
from ..admin.kpis import Kpis
from ..admin.metrics import Metrics
from ..admin.queue_kpis import service_level_by_day
from ..calls.journey import journey_view
from ..calls.outcomes import Outcome
from ..calls.supervisor import CallSupervisor
from ..edges.ami.controller import AmiController
from ..engine.graph import to_dot, to_mermaid
from ..engine.registry import FlowRegistry, ReloadReport
from ..interfaces import LineState, Serving
from ..listening.decoding import DecodingLoad
from ..notices import NoticeError, NoticeRequest, checked_author
from ..routing.callbacks import CallbackDialer
from ..store import Store
from ..store.guard import CallPathStore
from ..store.record_sink import SharedRecords
from ..tracking.client import TrackingClient
from ..versions.model import AuditAction
from .after_ivr import AfterIvr
from .drawings import flow_svg_async
from .notices import NoticeBoard
from .shared_kpis import SharedKpis

__all__ = ["StatusView"]

_DRAWINGS = {"mermaid": to_mermaid, "dot": to_dot}
#: Drawings kept per (flow, version): Graphviz takes a few hundred ms per flow.
_SVG_CACHE = 16

log = structlog.get_logger("ivr.notices")


@dataclass
class StatusView:
    """Implements :class:`ivr.admin.status.ServerStatus` over the server's parts."""

    flows_registry: FlowRegistry
    supervisor: CallSupervisor
    kpis_: Kpis
    metrics_: Metrics
    tracking: TrackingClient
    ami: AmiController | None
    listening: Callable[[], bool]
    speech_loaded: Callable[[], bool]
    #: Reload the line, told who asked and from where (for the audit trail).
    reload: Callable[[str, str], Awaitable[ReloadReport]]
    line_state: Callable[[], LineState]
    speech_enabled: bool = False
    #: The decoding threads' state (None without a model).
    speech_load: Callable[[], DecodingLoad | None] = lambda: None
    store: Store | None = None
    shared_records: SharedRecords | None = None
    shared_kpis: SharedKpis | None = None
    #: The store as calls use it (bounded, behind a breaker) and the callback dialler.
    call_path_store: CallPathStore | None = None
    dialer: CallbackDialer | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    #: The closure notices this node plays (read from the store).
    notice_board: NoticeBoard | None = None
    #: The queues' and callbacks' figures (read from the store).
    after_ivr: AfterIvr | None = None
    _svgs: OrderedDict[tuple[str, str], str] = field(default_factory=OrderedDict)

    async def journey(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """The call's journey after the IVR, from the store (see :func:`ivr.calls.journey.journey_view`)."""
        outcome = Outcome.of(record.get("outcome", ""))
        if self.store is None or outcome not in (Outcome.ROUTED, Outcome.ERROR_ROUTED, Outcome.CALLBACK):
            return journey_view(record.get("outcome", ""), None, followed=self.ami is not None)
        uniqueid = str(record.get("uniqueid", ""))
        booked = str((record.get("slots") or {}).get("callback_id", ""))
        try:
            kept = None
            if outcome is not Outcome.CALLBACK:
                kept = (await asyncio.wait_for(self.store.journeys([uniqueid]), 2.0)).get(uniqueid)
            callback: dict[str, Any] | None = None
            if booked.isdigit() or (kept and kept.get("state") == "left"):
                found = await asyncio.wait_for(self.store.find_callback(
                    callback_id=int(booked) if booked.isdigit() else None, uniqueid=uniqueid), 2.0)
                if found is not None:
                    callback = {"id": found.id, "queue": found.queue, "reason": found.reason, "state": found.state,
                                "attempts": found.attempts}
        except Exception as exc:  # the store away: the page says so rather than guess
            return {"state": "unknown", "why": f"the store did not answer ({type(exc).__name__})"}
        return journey_view(record.get("outcome", ""), kept, followed=self.ami is not None, callback=callback)

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the line can take calls, and each part's state."""
        line = self.line_state()
        flows: Any = sorted(self.flows_registry.versions) or "none loaded"
        if line.serving is Serving.ACCEPTED_COPY:
            flows = {"serving": f"the last accepted version {line.version} (the files on disk were rejected)",
                     "flows": flows, "rejected": line.rejected}
        elif line.rejected:
            flows = {"serving": f"version {line.version} (the last reload was rejected)", "flows": flows,
                     "rejected": line.rejected}
        checks: dict[str, Any] = {
            "agi": "listening" if self.listening() else "stopped",
            "flows": flows,
            "ami": self.ami.state if self.ami is not None else
            "not configured: routing from the rules alone (no live queue state, no callbacks)",
            "tracking": await self.tracking.health(),
            "speech": self._speech_state(),
        }
        degraded = []
        load = self.speech_load()
        if load is not None and load.busy:
            degraded.append(f"speech: decoding {load.lag:.1f} s late, new questions are offered the keypad")
        if self.store is not None:
            health = await self.store.health()
            checks["store"] = f"{self.store.kind} {self.store.where}: {health}"
            if health != "ok":
                degraded.append(f"store {health}: calls are answered and routed; callbacks wait, "
                                "call counts restart at 1")
        if self.call_path_store is not None and self.call_path_store.state == "open":
            checks["store_on_calls"] = "too slow for calls (circuit open)"
            degraded.append(f"store too slow for calls: not asked for up to {self.call_path_store.cooldown:g} s "
                            "(calls are routed without their count of the day, callbacks are not booked)")
        if self.dialer is not None:
            checks["dialler"] = self.dialer.state
            if self.dialer.state.startswith("stalled"):
                degraded.append(f"callbacks: {self.dialer.state}")
        if self.shared_records is not None:
            sink = self.shared_records
            checks["records"] = {"shared": sink.state, "queued": len(sink.queue), "dropped": sink.dropped,
                                 "sent": sink.sent}
            if sink.state != "ok" or sink.queue:
                degraded.append(f"call records: {len(sink.queue)} queued for the shared store ({sink.state})")
        if self.shared_kpis is not None and self.shared_kpis.state != "ok":
            degraded.append(f"indicators: other nodes' calls {self.shared_kpis.state}")
        if degraded:
            checks["degraded"] = degraded
        return self.listening() and bool(self.flows_registry.versions), checks

    def _speech_state(self) -> str | dict[str, Any]:
        if not self.speech_loaded():
            return ("no model: questions use the keypad" if self.speech_enabled else
                    "disabled (IVR_SPEECH=false): questions use the keypad")
        load = self.speech_load()
        if load is None:
            return "vosk model loaded"
        return {"state": "busy: new questions are offered the keypad" if load.busy else "vosk model loaded",
                "decoding_threads": load.workers, "queued": load.queued, "lag_s": load.lag,
                "keypad_offered": load.offered_keypad}

    def metrics(self) -> bytes:
        """The metrics in Prometheus's text format, gauges read now."""
        # Gauges are read at scrape time, so they are never stale.
        m = self.metrics_
        m.ami_configured.set(1 if self.ami is not None else 0)
        m.ami_connected.set(1 if self.ami is not None and self.ami.connected else 0)
        m.ami_events_refused.set(self.ami.refused_events if self.ami is not None else 0)
        m.store_circuit_open.set(1 if self.call_path_store is not None and self.call_path_store.state == "open" else 0)
        m.dialler_stalled.set(1 if self.dialer is not None and self.dialer.state.startswith("stalled") else 0)
        m.tracking_circuit_open.set(1 if self.tracking.breaker.state == "open" else 0)
        if self.shared_records is not None:
            m.records_queued.set(len(self.shared_records.queue))
            m.records_dropped.set(self.shared_records.dropped)
            m.store_up.set(1 if self.shared_records.state == "ok" else 0)
        m.speech_enabled.set(1 if self.speech_enabled else 0)
        m.speech_model_loaded.set(1 if self.speech_loaded() else 0)
        load = self.speech_load()
        m.speech_lag.set(load.lag if load is not None else 0)
        m.speech_busy.set(1 if load is not None and load.busy else 0)
        m.speech_keypad_offered.set(load.offered_keypad if load is not None else 0)
        now = self.clock()
        for name, flow in self.flows_registry.loaded().items():
            is_open = flow.model.is_open(now)
            m.line_open.labels(name).set(1 if is_open is None or is_open else 0)
        if self.ami is not None:
            for name, q in self.ami.board.queues.items():
                m.queue_wait.labels(name).set(q.expected_wait())
                m.queue_callers.labels(name).set(q.callers)
                m.queue_available.labels(name).set(q.available)
        return m.render()

    def live_calls(self) -> list[dict[str, Any]]:
        """The calls in progress: where each is in its flow, and for how long."""
        now = time.monotonic()
        return [{"call_id": c.call_id, "flow": c.record.flow, "node": c.current_node,
                 "seconds": round(now - c.started_monotonic, 1), "caller": c.record.caller,
                 "slots": dict(c.record.slots), "started_at": c.record.started_at}
                for c in self.supervisor.live.values()]

    def recent_records(self) -> list[dict[str, Any]]:
        """The records of the last calls."""
        return self.kpis_.recent

    def call_record(self, call_id: str) -> dict[str, Any] | None:
        """A recent call's record, or None."""
        return self.kpis_.record(call_id)

    def queues(self) -> dict[str, Any]:
        """The queues as the manager reports them."""
        if self.ami is None:
            return {"ami": "not configured", "queues": []}
        now = time.monotonic()
        return {"ami": self.ami.state, "queues": [
            {"queue": name, "waiting": q.callers, "agents_free": q.available, "agents_logged_in": q.logged_in,
             "expected_wait_s": q.expected_wait(), "longest_wait_s": q.longest_hold,
             "updated_s_ago": round(now - q.updated, 1)}
            for name, q in sorted(self.ami.board.queues.items())]}

    def flows(self) -> dict[str, Any]:
        """The loaded flows, their versions, and whether the line is open now."""
        registry = self.flows_registry
        now = self.clock()
        return {
            "flows": [{"name": n, "version": f.version, "path": str(f.path), "nodes": len(f.model.nodes),
                       "description": f.model.description, "open_now": f.model.is_open(now),
                       "graph": f"/flows/{n}/graph", "warnings": list(f.warnings)}
                      for n, f in sorted(registry.loaded().items())],
            "reloads": registry.reloads,
            "line": self.line_state().as_dict(),
        }

    async def flow_graph(self, name: str, fmt: str) -> str | None:
        """The flow ``name`` drawn in ``fmt`` (svg, mermaid, dot), or None if there is no such flow."""
        flow = self.flows_registry.loaded().get(name)
        if flow is None:
            return None
        if fmt != "svg":
            return _DRAWINGS[fmt](flow.model)
        key = (name, flow.version)
        if key not in self._svgs:
            self._svgs[key] = await flow_svg_async(flow.model)
            while len(self._svgs) > _SVG_CACHE:
                self._svgs.popitem(last=False)
        return self._svgs[key]

    async def reload_flows(self, actor: str = "", origin: str = "") -> dict[str, Any]:
        """Reload the flow files (a broken file changes nothing; once versions are published, the live
        version again); what was done."""
        report = await self.reload(actor, origin)
        return {"ok": report.ok, "applied": report.applied, "unchanged": report.unchanged, "removed": report.removed,
                "errors": report.errors}

    async def _audit(self, actor: str, action: str, target: str, origin: str, detail: dict[str, Any]) -> None:
        """Append to the audit trail; a store that fails loses the entry (logged), never the action done."""
        if self.store is None:
            return
        try:
            await asyncio.wait_for(self.store.add_audit(actor, action, target, origin, detail), 5.0)
        except Exception as exc:
            log.warning("audit_not_kept", action=action, error=type(exc).__name__)

    async def notices(self) -> dict[str, Any]:
        """The closure notices, newest first, and the live one."""
        board = self._board()
        await board.refresh()
        live = board.live()
        return {"notices": [n.as_dict() for n in board.notices], "live": live.id if live else None,
                "error": board.error}

    async def add_notice(self, text: str, starts_at: str, ends_at: str, closes: bool, by: str,
                         origin: str = "") -> dict[str, Any]:
        """Switch a notice on; heard on this node at once, on the others at their next read."""
        board = self._board()
        try:
            asked = NoticeRequest.checked(text, starts_at, ends_at, closes, by, self.clock())
            notice_id = await board.store.add_notice(asked.text, asked.starts_at, asked.ends_at, asked.closes, asked.by)
        except NoticeError as exc:
            return {"error": str(exc)}
        except Exception as exc:  # the store is down: say so, nothing is half done
            return {"error": f"the store did not keep the notice ({type(exc).__name__}): try again"}
        log.info("notice_on", notice=notice_id, by=asked.by, closes=asked.closes, starts_at=asked.starts_at.isoformat(),
                 ends_at=asked.ends_at.isoformat() if asked.ends_at else None)
        await self._audit(asked.by, AuditAction.NOTICE_ON, f"notice {notice_id}", origin,
                          {"text": asked.text, "closes": asked.closes})
        await board.refresh()
        kept = next((n for n in board.notices if n.id == notice_id), None)
        return kept.as_dict() if kept else {"id": notice_id}

    async def end_notice(self, notice_id: int, by: str, origin: str = "") -> dict[str, Any]:
        """Switch a notice off, here at once and on the other nodes at their next read."""
        board = self._board()
        try:
            author = checked_author(by)
            ended = await board.store.end_notice(notice_id, author)
        except NoticeError as exc:
            return {"error": str(exc)}
        except Exception as exc:
            return {"error": f"the store did not switch the notice off ({type(exc).__name__}): try again"}
        if not ended:
            return {"error": f"no notice {notice_id} is on"}
        log.info("notice_off", notice=notice_id, by=author)
        await self._audit(author, AuditAction.NOTICE_OFF, f"notice {notice_id}", origin, {})
        await board.refresh()
        return {"ok": True, "id": notice_id}

    def _board(self) -> NoticeBoard:
        assert self.notice_board is not None, "the server gives its notice board to the console"
        return self.notice_board

    def days(self) -> list[DayFigures]:
        """The main figures of the last 7 days, a row a day."""
        days = self.kpis_.days(7)
        starts = [start for _, start, _ in days]
        service = (service_level_by_day(self.after_ivr.journeys, starts, service_level_s=self.after_ivr.service_level_s)
                   if self.after_ivr is not None else [(0, 0)] * len(days))
        return day_figures(days, service)

    def kpis(self) -> dict[str, Any]:
        """The line's indicators, by window."""
        return self.kpis_.summary(self.after_ivr.figures if self.after_ivr is not None else None)
