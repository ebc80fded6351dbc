"""``hours``: open or closed now, from weekly opening ranges, public holidays and closed dates."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator
from typing_extensions import override

from ..defaults import Defaults
from ..hours import WeeklyHours, parse_ranges
from .base import Checks, Edge, Label, NodeBase

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["HoursNode"]

#: The variable an hours node sets: whether the line is open.
OPEN_VARIABLE = "open"


def _opening_ranges(text: str) -> str:
    parse_ranges(text)
    return text


def _iso_date(value: Any) -> str:
    """A closed date as the hours node reads it: ``2026-12-24`` (YAML may have made it a date already)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    text = str(value)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD (Christmas Eve 2026 is 2026-12-24)") from None
    return text


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class HoursNode(NodeBase):
    """Go one way while the line is open, another when closed (a holiday, the night, Sunday)."""

    kind: Literal["hours"]
    timezone: str = "Europe/Paris"
    #: Opening ranges per day (``mon: "07:45-22:00"``, ``sat: "08:00-12:00, 13:00-17:00"``, ``sun: closed``);
    #: a day that is not listed is closed.
    weekly: dict[Day, Annotated[str, AfterValidator(_opening_ranges)]]
    #: ``fr``: closed on the eleven public holidays of metropolitan France; none: no holidays.
    public_holidays: Literal["fr"] | None = "fr"
    #: Extra closed days, written YYYY-MM-DD (``["2026-12-24", "2026-12-31"]``).
    closed_dates: list[Annotated[str, BeforeValidator(_iso_date)]] = Field(default_factory=list)
    open: str
    closed: str

    def schedule(self) -> WeeklyHours:
        """The opening hours this node checks."""
        return WeeklyHours(timezone=self.timezone,
                           weekly={day: parse_ranges(text) for day, text in self.weekly.items()},
                           public_holidays=self.public_holidays,
                           closed_dates=frozenset(date.fromisoformat(d) for d in self.closed_dates))

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @override
    def check(self, checks: Checks) -> None:
        today = checks.context.today
        if today is not None and self.closed_dates and all(date.fromisoformat(d) < today for d in self.closed_dates):
            checks.notice(("closed_dates",), f"every closed date is in the past (the last, {max(self.closed_dates)}): "
                                             f"were this year's dates meant?")
        if self.timezone.startswith("Etc/GMT") and self.timezone not in ("Etc/GMT", "Etc/GMT0"):
            sign = self.timezone[len("Etc/GMT")]
            actual = "behind" if sign == "+" else "ahead of"
            checks.notice(("timezone",), f"{self.timezone} is {self.timezone[len('Etc/GMT') + 1:]} h {actual} UTC, the "
                                         f"opposite of what it reads, and never follows summer time: a named zone "
                                         f"(Europe/Paris) is what callers' clocks follow")

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.OPEN, self.open, ("open",)), Edge(Label.CLOSED, self.closed, ("closed",))]

    @override
    def sets(self) -> set[str]:
        return {OPEN_VARIABLE}

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        is_open = self.schedule().is_open(call.now)
        call.variables[OPEN_VARIABLE] = is_open
        return self.open if is_open else self.closed
