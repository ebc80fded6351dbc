"""The flows a server runs, with hot reload.

A valid change to a flow file applies to new calls; calls in progress keep the
:class:`FlowRunner` they started with (they hold a reference to it). An
invalid change is logged with every error and the running version stays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from .interpreter import FlowRunner
from .services import EngineServices
from .validate import LoadedFlow, ValidationContext, check_flows

__all__ = ["FlowRegistry", "ReloadReport"]

log = structlog.get_logger("ivr.flows")


@dataclass
class ReloadReport:
    applied: dict[str, str] = field(default_factory=dict)  # flow → new version
    unchanged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class FlowRegistry:
    """Maps AGI request paths (flow names) to runners; implements ``FlowResolver``."""

    def __init__(self, flows_dir: Path, services: EngineServices, context: Callable[[], ValidationContext]) -> None:
        self.flows_dir = Path(flows_dir)
        self.services = services
        #: What flows may refer to (prompts, lookup statuses, queues…), as of this reload.
        self.context = context
        services.flows = self.resolve
        self._runners: dict[str, FlowRunner] = {}
        self._loaded: dict[str, LoadedFlow] = {}
        self._mtimes: dict[Path, float] = {}
        self.last_report = ReloadReport()
        self.reloads = 0

    def files(self) -> list[Path]:
        return sorted(self.flows_dir.glob("*.yaml")) + sorted(self.flows_dir.glob("*.yml"))

    def resolve(self, request_path: str) -> FlowRunner | None:
        return self._runners.get(request_path)

    @property
    def versions(self) -> dict[str, str]:
        return {name: runner.version for name, runner in self._runners.items()}

    def loaded(self) -> dict[str, LoadedFlow]:
        return dict(self._loaded)

    def reload(self) -> ReloadReport:
        """Load every flow file; apply the valid ones, keep the running version of the others."""
        files = self.files()
        self._mtimes = {f: _mtime(f) for f in files}
        loaded, errors = check_flows(files, self.context())
        report = ReloadReport(errors=errors)
        for name, flow in loaded.items():
            current = self._runners.get(name)
            if current is not None and current.version == flow.version:
                report.unchanged.append(name)
                continue
            self._runners[name] = FlowRunner(flow.model, flow.version, self.services)
            self._loaded[name] = flow
            report.applied[name] = flow.version
        self.reloads += 1
        self.last_report = report
        for name, version in report.applied.items():
            log.info("flow_loaded", flow=name, version=version, nodes=len(self._loaded[name].model.nodes))
        if errors:
            log.error("flow_rejected", errors=errors, kept=sorted(self._runners))
        return report

    def changed(self) -> bool:
        files = self.files()
        return set(files) != set(self._mtimes) or any(_mtime(f) != self._mtimes.get(f) for f in files)

    async def watch(self, interval: float = 1.0) -> None:
        """Poll the flow folder and reload on change (until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            try:
                if self.changed():
                    self.reload()
            except Exception:
                log.exception("flow_watch_failed")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1
