"""The flows a server runs, by name, swapped whole when a new configuration is accepted.

Calls in progress keep the :class:`FlowRunner` they started with (they hold a reference to it);
new calls get the new one. A flow whose file disappeared is unloaded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from .interpreter import FlowRunner
from .services import EngineServices
from .validate import LoadedFlow

__all__ = ["FlowRegistry", "ReloadReport"]

log = structlog.get_logger("ivr.flows")


@dataclass
class ReloadReport:
    """What a reload did: flows applied, unchanged, removed, and the errors that stopped it."""

    applied: dict[str, str] = field(default_factory=dict)  # flow → new version
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the reload was applied (no errors)."""
        return not self.errors


class FlowRegistry:
    """Maps AGI request paths (flow names) to runners; implements ``FlowResolver``."""

    def __init__(self, services: EngineServices) -> None:
        self.services = services
        services.flows = self.resolve
        self._runners: dict[str, FlowRunner] = {}
        self._loaded: dict[str, LoadedFlow] = {}
        self.reloads = 0

    def resolve(self, request_path: str) -> FlowRunner | None:
        """The flow to run for an AGI request path, or None."""
        return self._runners.get(request_path)

    @property
    def versions(self) -> dict[str, str]:
        """Each loaded flow's version."""
        return {name: runner.version for name, runner in self._runners.items()}

    def loaded(self) -> dict[str, LoadedFlow]:
        """The loaded flows, with their files."""
        return dict(self._loaded)

    def apply(self, flows: dict[str, LoadedFlow]) -> ReloadReport:
        """Serve exactly ``flows`` from now on (a checked set): new versions replace old ones, flows
        that are not in the set any more are unloaded."""
        report = ReloadReport()
        runners: dict[str, FlowRunner] = {}
        for name, flow in flows.items():
            current = self._runners.get(name)
            if current is not None and current.version == flow.version:
                runners[name] = current
                report.unchanged.append(name)
            else:
                runners[name] = FlowRunner(flow.model, flow.version, self.services)
                report.applied[name] = flow.version
        report.removed = sorted(set(self._runners) - set(runners))
        self._runners, self._loaded = runners, dict(flows)
        self.reloads += 1
        for name, version in report.applied.items():
            log.info("flow_loaded", flow=name, version=version, nodes=len(flows[name].model.nodes))
        for name in report.removed:
            log.warning("flow_unloaded", flow=name, reason="its file is gone")
        return report
