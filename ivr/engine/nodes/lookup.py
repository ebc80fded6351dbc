"""``lookup``: ask a back end (the tracking service) while the caller waits, never in silence.

When the answer takes longer than ``wait_after`` the caller hears « un instant… »; at ``timeout``
the flow takes ``on_error``; a caller who hangs up meanwhile is let go at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from typing_extensions import override

from ...edges.agi.errors import CallerHungUp
from ...interfaces import LookupResult
from ..defaults import Defaults
from ..errors import FlowError
from ..template import render
from .base import Checks, Edge, Label, NodeBase, Record, Ref, ValidationContext, field_refs, hint

if TYPE_CHECKING:
    from ...calls.call import Call
    from ..services import EngineServices
    from .runner import Runner

__all__ = ["LookupNode"]


class LookupNode(NodeBase):
    """Ask a lookup service (the file tracking service) and branch on its status."""

    kind: Literal["lookup"]
    service: str
    args: dict[str, str] = Field(default_factory=dict)
    store: str
    #: At most the service's own timeout (the tracking client's, IVR_TRACKING_TIMEOUT: 2 s by default).
    timeout: float = Field(2.0, gt=0, le=30)
    #: Play ``wait_prompt`` when the lookup takes longer than this many seconds.
    wait_after: float = Field(1.0, ge=0, le=10)
    wait_prompt: str | None = "un_instant"
    on: dict[str, str] = Field(min_length=1, description="Result status → next node.")
    on_error: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(status, target, ("on", status)) for status, target in self.on.items()] \
            + [Edge(Label.ERROR, self.on_error, ("on_error",))]

    @override
    def prompt_refs(self) -> list[Ref]:
        return [Ref(self.wait_prompt, ("wait_prompt",))] if self.wait_prompt else []

    @override
    def template_refs(self) -> list[Ref]:
        return field_refs(self.args, "args")

    @override
    def required_refs(self) -> list[Ref]:
        return self.template_refs()  # an argument missing on some path would fail that caller's lookup

    @override
    def silent_seconds(self, defaults: Defaults, seconds: Callable[[str], float]) -> float:
        return self.timeout + (seconds(self.wait_prompt) if self.wait_prompt else 0.0)

    @override
    def sets(self) -> set[str]:
        return {self.store}  # set on every way out: the result, or the error

    @override
    def check(self, checks: Checks) -> None:
        services = checks.context.services
        spec = services.get(self.service)
        if spec is None:
            checks.problem(("service",), f"unknown lookup service {self.service!r}{hint(self.service, services)} "
                                         f"(known: {', '.join(sorted(services)) or 'none'})")
            return
        statuses = spec.statuses
        for status in self.on:
            if status not in statuses:
                checks.problem(("on", status), f"service {self.service!r} never returns {status!r}"
                                               f"{hint(status, statuses)} ({', '.join(sorted(statuses))})")
        if spec.timeout is not None and self.timeout > spec.timeout:
            checks.problem(("timeout",), f"service {self.service!r} gives up after {spec.timeout:g} s (its client's "
                                         f"timeout): {self.timeout:g} s here would never be waited; write at most "
                                         f"{spec.timeout:g}, or raise the client's timeout (IVR_TRACKING_TIMEOUT)")
        unhandled = sorted(statuses - set(self.on))
        if unhandled:  # the call would take on_error, and the caller hear of an outage that is not one
            checks.problem(("on",), f"service {self.service!r} may also return {', '.join(map(repr, unhandled))}: "
                                    f"say where each goes (else it would be taken as an error)")
        for name in self.args:
            if name not in spec.arguments:
                checks.problem(("args", name), f"service {self.service!r} takes no argument {name!r}"
                                               f"{hint(name, spec.arguments)} (it takes "
                                               f"{', '.join(sorted(spec.arguments))}): every caller's lookup would "
                                               f"go without it")
        missing = sorted(spec.arguments - set(self.args))
        if missing:
            checks.problem(("args",), f"service {self.service!r} needs {', '.join(map(repr, missing))}: without it "
                                      f"every caller would be told their file is unknown")

    @override
    def records(self, context: ValidationContext) -> dict[str, Record]:
        spec = context.services.get(self.service)
        if spec is None:
            return {}
        # The stored record: the result's status and fields, or the error that stood in for them.
        return {self.store: Record(spec.fields | {"status", "error"}, spec.values)}

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        return await _run(self, call, runner.services)


async def _run(node: LookupNode, call: Call, services: EngineServices) -> str | None:
    """Run the lookup; store its result in ``node.store`` and return the next node."""
    service = services.lookups.get(node.service)
    if service is None:
        raise FlowError(f"lookup service {node.service!r} is not configured")
    if services.lookup_budget is not None:
        caller = "" if call.caller_withheld else "".join(ch for ch in call.caller_number if ch.isdigit())
        if not services.lookup_budget.allow(caller):
            call.variables[node.store] = {"error": "rate_limited"}
            call.record.lookups.append({"service": node.service, **call.when(), "status": "rate_limited", "ms": 0.0})
            call.log.warning("lookup_rate_limited", service=node.service, caller=call.caller_number)
            return node.on_error
    args = {name: render(template, call.variables, services.filters) for name, template in node.args.items()}
    started = time.monotonic()
    task = asyncio.create_task(service.lookup(**args))
    hangup = asyncio.create_task(call.channel.wait_hangup())
    try:
        done, _ = await asyncio.wait({task, hangup}, timeout=node.wait_after, return_when=asyncio.FIRST_COMPLETED)
        if hangup in done:
            raise CallerHungUp("during lookup")
        if task not in done and node.wait_prompt:
            # Slow back end: tell the caller we are working rather than stay silent.
            await call.channel.stream_file(services.prompts.playback_path(node.wait_prompt, slow=call.slow), "")
        remaining = node.timeout - (time.monotonic() - started)
        if not task.done():
            done, _ = await asyncio.wait({task, hangup}, timeout=max(remaining, 0),
                                         return_when=asyncio.FIRST_COMPLETED)
            if hangup in done and task not in done:
                raise CallerHungUp("during lookup")
        ms = round((time.monotonic() - started) * 1000, 1)
        if not task.done():
            call.variables[node.store] = {"error": "timeout"}
            call.record.lookups.append({"service": node.service, **call.when(), "status": "timeout", "ms": ms})
            call.log.warning("lookup_timeout", service=node.service, timeout_s=node.timeout)
            return node.on_error
        try:
            result: LookupResult = task.result()
        except Exception as exc:  # the service failed: that is a branch of the flow, not a crash
            call.variables[node.store] = {"error": type(exc).__name__}
            call.record.lookups.append({"service": node.service, **call.when(), "status": "error", "ms": ms})
            call.log.warning("lookup_failed", service=node.service, error=str(exc))
            return node.on_error
    finally:
        for t in (task, hangup):
            if not t.done():
                t.cancel()
    call.variables[node.store] = {"status": result.status, **result.data}
    call.record.lookups.append({"service": node.service, **call.when(), "status": result.status, "ms": ms,
                                "fields": closed_fields(result.data, service.values)})
    call.log.info("lookup_done", service=node.service, status=result.status, ms=ms)
    return node.on.get(result.status, node.on_error)


def closed_fields(data: Mapping[str, Any], values: Mapping[str, frozenset[str]]) -> dict[str, Any]:
    """What the call record keeps of a lookup's answer: the fields whose values are a closed, non-personal
    set — yes/no fields, and those the service declares the values of (a file's status) — so that a record
    says what routing saw (and a preview can replay it); never a number, a name or a date."""
    return {name: value for name, value in sorted(data.items())
            if isinstance(value, bool) or (isinstance(value, str) and value in values.get(name, ()))}
