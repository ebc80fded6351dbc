"""What the admin HTTP server may ask of the running IVR: a narrow, read-mostly view.

The server implements it (``ivr.server.status``); the admin pages depend on this protocol only, so
they cannot reach into the server's parts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..versions.diff import Change
    from ..versions.model import AuditEntry, LineVersion
    from .daily import DayFigures

__all__ = ["ServerStatus", "LineDesk", "Publication", "Preview"]


class ServerStatus(Protocol):
    """What the console reads of the running server (the composition root implements it)."""

    def listening(self) -> bool:
        """Whether the FastAGI port takes calls."""

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the IVR takes calls, and the state of each part (AGI, flows, AMI, tracking, speech)."""

    def metrics(self) -> bytes:
        """The Prometheus exposition of the server's metrics."""

    def live_calls(self) -> list[dict[str, Any]]:
        """Calls in progress: id, flow, node, seconds, start, masked caller and slots."""

    def recent_records(self) -> list[dict[str, Any]]:
        """The records of the last finished calls, oldest first (bounded)."""

    def call_record(self, call_id: str) -> dict[str, Any] | None:
        """One finished call's record (while it is among the kept ones); None otherwise."""

    async def journey(self, record: dict[str, Any]) -> dict[str, Any] | None:
        """What happened to a finished call after the IVR (queue, wait, agent, talk), None when the IVR did
        not hand it to a queue; ``state`` ``unknown`` with ``why`` when nothing was seen of it."""

    def queues(self) -> dict[str, Any]:
        """The agents' queues as AMI reports them (``ami``: its state; ``queues``: waiting callers, free
        agents, expected wait per queue)."""

    def flows(self) -> dict[str, Any]:
        """The flows loaded (name, version, path, nodes, description, open now), and what is served
        (``line``: the version, whether it is the files or the last accepted copy, the last rejection's errors)."""

    async def flow_graph(self, name: str, fmt: str) -> str | None:
        """A loaded flow drawn as ``mermaid``, ``dot`` or ``svg``; None when there is no such flow."""

    async def reload_flows(self, actor: str = "", origin: str = "") -> dict[str, Any]:
        """Reload flows, rules and catalog now; the report (``ok``, ``applied``, ``unchanged``, ``removed``, ``errors``)."""

    def days(self) -> list[DayFigures]:
        """The main figures of the last 7 days, a row a day (the line's local dates), oldest first."""

    def kpis(self) -> dict[str, Any]:
        """The call-centre indicators per window (``windows``: today, last_hour, last_7_days), and
        whether the error banner is up."""

    async def notices(self) -> dict[str, Any]:
        """The closure notices (``notices``: the last ones, newest first; ``live``: the id callers hear now)."""

    async def add_notice(self, text: str, starts_at: str, ends_at: str, closes: bool, by: str,
                         origin: str = "") -> dict[str, Any]:
        """Switch a notice on (times as :func:`ivr.notices.parse_when` reads them); the notice, or
        ``error`` saying what to fix."""

    async def end_notice(self, notice_id: int, by: str, origin: str = "") -> dict[str, Any]:
        """Switch a notice off; ``ok``, or ``error``."""


class Publication(Protocol):
    """What a publish or a rollback did."""

    version: LineVersion | None
    errors: list[str]
    unchanged: bool

    @property
    def ok(self) -> bool:
        """Whether the configuration is live now."""


class Preview(Protocol):
    """What replaying recorded calls through a draft showed (``ivr.server.preview.PreviewReport``)."""

    def as_dict(self) -> dict[str, Any]:
        """The totals (``calls``, ``replayed``, ``unfit``, ``changed``, ``containment``, ``transfers``,
        ``per_second``), then ``changes`` and ``unfit_calls``, one object a call."""


class LineDesk(Protocol):
    """What the console does with the line's versions and drafts (the server implements it,
    ``ivr.server.publishing``)."""

    async def versions(self, limit: int = 50) -> list[LineVersion]:
        """The last versions, the live one first, without their files."""

    async def version(self, number: int) -> LineVersion | None:
        """One version with its files."""

    async def live_texts(self) -> dict[str, str]:
        """The files of the live version (before any publish: those served): where a draft starts."""

    async def diff(self, texts: Mapping[str, str]) -> list[Change]:
        """What a draft changes from the live version."""

    async def check(self, texts: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """A draft's errors (``file:line: …``) and warnings."""

    async def preview(self, texts: Mapping[str, str], *, calls: int, since: float | None, author: str,
                      origin: str) -> tuple[list[str], Preview | None]:
        """Check a draft and replay the last recorded calls through it: the errors, or what would change."""

    async def publish(self, texts: Mapping[str, str], *, author: str, comment: str, origin: str) -> Publication:
        """Check a draft and make it the live version."""

    async def rollback(self, number: int, *, author: str, comment: str, origin: str) -> Publication:
        """Make an earlier version live again."""

    async def audit(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        """The audit trail, newest first."""
