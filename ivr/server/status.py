"""The server as the admin pages see it (:class:`ivr.admin.status.ServerStatus`)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..admin.kpis import Kpis
from ..admin.metrics import Metrics
from ..calls.supervisor import CallSupervisor
from ..edges.ami.controller import AmiController
from ..engine.graph import to_dot, to_mermaid, to_svg
from ..engine.registry import FlowRegistry, ReloadReport
from ..tracking.client import TrackingClient

__all__ = ["StatusView"]

_DRAWINGS = {"mermaid": to_mermaid, "dot": to_dot, "svg": to_svg}


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
    line_state: Callable[[], dict[str, Any]]

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        line = self.line_state()
        flows: Any = sorted(self.flows_registry.versions) or "none loaded"
        if line["serving"] == "accepted copy":
            flows = {"serving": f"the last accepted version {line['version']} (the files on disk were rejected)",
                     "flows": flows, "rejected": line["rejected"]}
        elif line["rejected"]:
            flows = {"serving": f"version {line['version']} (the last reload was rejected)", "flows": flows,
                     "rejected": line["rejected"]}
        checks: dict[str, Any] = {
            "agi": "listening" if self.listening() else "stopped",
            "flows": flows,
            "ami": self.ami.state if self.ami is not None else
            "not configured: routing from the rules alone (no live queue state, no callbacks)",
            "tracking": await self.tracking.health(),
            "speech": "vosk model loaded" if self.speech_loaded() else "no model: questions use the keypad",
        }
        return self.listening() and bool(self.flows_registry.versions), checks

    def metrics(self) -> bytes:
        m = self.metrics_
        m.ami_connected.set(1 if self.ami is not None and self.ami.connected else 0)
        if self.ami is not None:
            for name, q in self.ami.board.queues.items():
                m.queue_wait.labels(name).set(q.expected_wait())
        return m.render()

    def live_calls(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        return [{"call_id": c.call_id, "flow": c.record.flow, "node": c.current_node,
                 "seconds": round(now - c.started_monotonic, 1), "caller": c.record.caller,
                 "slots": dict(c.record.slots)} for c in self.supervisor.live.values()]

    def recent_records(self) -> list[dict[str, Any]]:
        return list(self.kpis_.recent)

    def flows(self) -> dict[str, Any]:
        registry = self.flows_registry
        return {
            "flows": [{"name": n, "version": f.version, "path": str(f.path), "nodes": len(f.model.nodes),
                       "graph": f"/flows/{n}/graph"} for n, f in sorted(registry.loaded().items())],
            "reloads": registry.reloads,
            "line": self.line_state(),
        }

    def flow_graph(self, name: str, fmt: str) -> str | None:
        flow = self.flows_registry.loaded().get(name)
        return None if flow is None else _DRAWINGS[fmt](flow.model)

    async def reload_flows(self) -> dict[str, Any]:
        report = await self.reload()
        return {"ok": report.ok, "applied": report.applied, "unchanged": report.unchanged, "removed": report.removed,
                "errors": report.errors}

    def kpis(self) -> dict[str, Any]:
        return self.kpis_.summary()
