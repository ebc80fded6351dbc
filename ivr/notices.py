"""Closure notices: what an administrator tells every caller after the welcome — an incident, a
closure — from a start to an optional end, the line staying open or not.

Sans-IO: the notice as stored, which one is live at a moment, and the checks on what an
administrator types (the CLI, the console and the API all go through them). The store keeps them
(``notices`` table), the server polls it, a flow's ``notice`` node plays the live one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

__all__ = ["Notice", "NoticeError", "NoticeRequest", "live_notice", "checked_text", "checked_author", "parse_when", "MAX_TEXT",
           "MAX_AUTHOR", "utc"]

#: The longest notice (about half a minute of speech): a caller must still reach the menu.
MAX_TEXT = 400
MAX_AUTHOR = 64


class NoticeError(ValueError):
    """What an administrator typed cannot be a notice; the message says why, in terms they can act on."""


@dataclass(frozen=True)
class Notice:
    """A notice as stored: its text, when it plays, whether the line closes, and who did what when."""

    id: int
    text: str
    starts_at: datetime
    ends_at: datetime | None
    #: The line is closed while it plays: callers hear it, then the call ends.
    closes: bool
    created_by: str
    created_at: datetime
    ended_by: str = ""
    ended_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        """Whether callers hear it at ``now``: started, not past its end, not switched off (off is off,
        whatever time a simulated call says it is)."""
        return self.ended_at is None and self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def as_dict(self) -> dict[str, object]:
        """For the API and the console (times in ISO 8601)."""
        def iso(t: datetime | None) -> str | None:
            return t.isoformat(timespec="seconds") if t else None
        return {"id": self.id, "text": self.text, "starts_at": iso(self.starts_at), "ends_at": iso(self.ends_at),
                "closes": self.closes, "created_by": self.created_by, "created_at": iso(self.created_at),
                "ended_by": self.ended_by, "ended_at": iso(self.ended_at)}


@dataclass(frozen=True)
class NoticeRequest:
    """A notice an administrator asked for, checked and ready to store (times in UTC)."""

    text: str
    starts_at: datetime
    ends_at: datetime | None
    closes: bool
    by: str

    @classmethod
    def checked(cls, text: str, starts_at: str, ends_at: str | None, closes: bool, by: str,
                now: datetime) -> NoticeRequest:
        """What the CLI, the console and the API were given, checked the same way for all three
        (:class:`NoticeError` says what to fix); ``ends_at`` empty or None: until switched off."""
        author, clean = checked_author(by), checked_text(text)
        start = parse_when(starts_at, now)
        end = parse_when(ends_at, now) if ends_at and ends_at.strip() else None
        if end is not None and end <= start:
            raise NoticeError("the end comes before the start")
        return cls(clean, utc(start), utc(end) if end else None, closes, author)


def live_notice(notices: Iterable[Notice], now: datetime) -> Notice | None:
    """The notice callers hear at ``now``: of those live, the one that started last (then the newest)."""
    live = [n for n in notices if n.live(now)]
    return max(live, key=lambda n: (n.starts_at, n.id)) if live else None


def checked_text(text: str) -> str:
    """The text as callers will hear it (spaces collapsed); a :class:`NoticeError` when it is empty, too
    long or holds characters that are not text."""
    clean = " ".join(text.split())
    if not clean:
        raise NoticeError("the notice has no text")
    if len(clean) > MAX_TEXT:
        raise NoticeError(f"the notice is {len(clean)} characters long: at most {MAX_TEXT} (about half a minute "
                          f"of speech), so that callers still reach the menu")
    odd = [ch for ch in clean if unicodedata.category(ch).startswith("C")]
    if odd:
        raise NoticeError(f"the notice holds a character that is not text (U+{ord(odd[0]):04X})")
    return clean


def checked_author(name: str) -> str:
    """Who switches a notice on or off, as the audit shows it."""
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_AUTHOR or any(unicodedata.category(ch).startswith("C") for ch in clean):
        raise NoticeError(f"say who you are (1 to {MAX_AUTHOR} printable characters)")
    return clean


def parse_when(text: str, now: datetime, zone: str = "Europe/Paris") -> datetime:
    """A moment as an administrator writes it: ``now``, ``+30m`` / ``+2h``, ``14:30`` (today, in the line's
    time zone), or ISO 8601 (``2026-12-24T12:00``, the line's zone when none is given). Always aware."""
    value = text.strip()
    tz = ZoneInfo(zone)
    if value in ("", "now", "maintenant"):
        return now
    if value.startswith("+") and value[-1:] in ("m", "h") and value[1:-1].isdigit():
        amount = int(value[1:-1])
        return now + (timedelta(minutes=amount) if value.endswith("m") else timedelta(hours=amount))
    try:
        if len(value) == 5 and value[2] == ":":
            hour, minute = int(value[:2]), int(value[3:])
            return now.astimezone(tz).replace(hour=hour, minute=minute, second=0, microsecond=0)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise NoticeError(f"{text!r} is not a moment: write now, +30m, +2h, 14:30 or 2026-12-24T12:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC (stores keep UTC)."""
    return moment.astimezone(timezone.utc)
