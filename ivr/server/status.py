"""The server as the admin pages see it (:class:`ivr.admin.status.ServerStatus`)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..admin.kpis import Kpis
from ..admin.metrics import Metrics
from ..calls.supervisor import CallSupervisor
from ..edges.ami.controller import AmiController
from ..engine.graph import to_dot, to_mermaid
from ..engine.registry import FlowRegistry, ReloadReport
from ..interfaces import LineState, Serving
from ..routing.callbacks import CallbackDialer
from ..store import Store
from ..store.guard import CallPathStore
from ..store.record_sink import SharedRecords
from ..tracking.client import TrackingClient
from .drawings import flow_svg_async
from .shared_kpis import SharedKpis

__all__ = ["StatusView"]

_DRAWINGS = {"mermaid": to_mermaid, "dot": to_dot}
#: Drawings kept per (flow, version): Graphviz takes a few hundred ms per flow.
_SVG_CACHE = 16


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
    reload: Callable[[], Awaitable[ReloadReport]]
    line_state: Callable[[], LineState]
    speech_enabled: bool = False
    store: Store | None = None
    shared_records: SharedRecords | None = None
    shared_kpis: SharedKpis | None = None
    #: The store as calls use it (bounded, behind a breaker) and the callback dialler.
    call_path_store: CallPathStore | None = None
    dialer: CallbackDialer | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    _svgs: OrderedDict[tuple[str, str], str] = field(default_factory=OrderedDict)

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
            "speech": "vosk model loaded" if self.speech_loaded() else
            "no model: questions use the keypad" if self.speech_enabled else
            "disabled (IVR_SPEECH=false): questions use the keypad",
        }
        degraded = []
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

    async def reload_flows(self) -> dict[str, Any]:
        """Reload the flow files (a broken file changes nothing); what was done."""
        report = await self.reload()
        return {"ok": report.ok, "applied": report.applied, "unchanged": report.unchanged, "removed": report.removed,
                "errors": report.errors}

    def kpis(self) -> dict[str, Any]:
        """The line's indicators, by window."""
        return self.kpis_.summary()
