"""Opening hours: a weekly schedule in a time zone, closed on public holidays."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["WeeklyHours", "french_public_holidays", "easter_sunday", "parse_ranges", "DAYS"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the letters of the published algorithm)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


def french_public_holidays(year: int) -> dict[date, str]:
    """The eleven public holidays of metropolitan France."""
    easter = easter_sunday(year)
    return {
        date(year, 1, 1): "Jour de l'an",
        easter + timedelta(days=1): "Lundi de Pâques",
        date(year, 5, 1): "Fête du travail",
        date(year, 5, 8): "Victoire 1945",
        easter + timedelta(days=39): "Ascension",
        easter + timedelta(days=50): "Lundi de Pentecôte",
        date(year, 7, 14): "Fête nationale",
        date(year, 8, 15): "Assomption",
        date(year, 11, 1): "Toussaint",
        date(year, 11, 11): "Armistice 1918",
        date(year, 12, 25): "Noël",
    }


def parse_ranges(text: str) -> list[tuple[time, time]]:
    """``"07:45-12:00, 13:00-22:00"`` → time ranges; ``"closed"`` or ``""`` → none."""
    if not text or text.strip().lower() in ("closed", "ferme", "fermé"):
        return []
    out = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"opening hours must look like 07:45-22:00, got {part.strip()!r}")
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59:
            raise ValueError(f"invalid time in {part.strip()!r}")
        start = time(h1, m1)
        end = time(23, 59, 59, 999999) if (h2, m2) == (24, 0) else time(h2, m2)
        if end <= start:
            raise ValueError(f"opening range ends before it starts: {part.strip()!r}")
        out.append((start, end))
    _refuse_overlaps(out)
    return out


def _refuse_overlaps(ranges: list[tuple[time, time]]) -> None:
    # Overlapping ranges open the line over their union: legal, but never what was meant (a range
    # extended by adding another), and a reader cannot tell the hours at a glance.
    ordered = sorted(ranges)
    for (s1, e1), (s2, e2) in itertools.pairwise(ordered):
        if s2 < e1:
            raise ValueError(f"opening ranges {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap: write "
                             f"one range, {_hhmm(s1)}-{_hhmm(max(e1, e2))}")


def _hhmm(t: time) -> str:
    return "24:00" if t == time(23, 59, 59, 999999) else t.strftime("%H:%M")


@dataclass(frozen=True)
class WeeklyHours:
    """Open ranges per weekday in a time zone, minus holidays and extra closed dates."""

    timezone: str = "Europe/Paris"
    weekly: dict[str, list[tuple[time, time]]] = field(default_factory=dict)
    public_holidays: str | None = "fr"
    closed_dates: frozenset[date] = frozenset()

    def holiday(self, day: date) -> str | None:
        """Why ``day`` is closed all day (a public holiday's name, an exceptional closure), or None."""
        if day in self.closed_dates:
            return "fermeture exceptionnelle"
        if self.public_holidays == "fr":
            return french_public_holidays(day.year).get(day)
        return None

    def is_open(self, when: datetime) -> bool:
        """Whether the line is open at ``when`` (an aware datetime; naive means UTC)."""
        if when.tzinfo is None:
            when = when.replace(tzinfo=ZoneInfo("UTC"))
        local = when.astimezone(ZoneInfo(self.timezone))
        if self.holiday(local.date()):
            return False
        ranges = self.weekly.get(DAYS[local.weekday()], [])
        now = local.time()
        return any(start <= now < end for start, end in ranges)
