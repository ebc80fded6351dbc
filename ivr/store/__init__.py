"""What must survive a restart (callbacks, per-caller daily counts): SQLite for one node, PostgreSQL
shared by several (and then call records too).

:func:`make_store` picks the implementation from ``IVR_STORE``: a file path or a ``postgresql://``
URL. Both have the methods of :class:`Store`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from ..notices import Notice
from ..versions.model import AuditEntry, LineVersion, Session, User
from .core import Callback
from .sqlite import SqliteStore

__all__ = ["Callback", "SqliteStore", "Store", "make_store", "is_database_url"]


class Store(Protocol):
    """What a store keeps: callers' daily counts, callbacks and closure notices (SQLite for one node,
    PostgreSQL for several)."""

    #: ``sqlite`` or ``postgresql``.
    kind: str

    @property
    def where(self) -> str:
        """The file or the URL (without its password)."""

    async def open(self) -> "Store":
        """Open (create or migrate the schema); the store itself."""

    async def close(self) -> None:
        """Close."""

    async def health(self) -> str:
        """``ok`` or why the store cannot answer."""

    async def count_call(self, number: str, day: date) -> int:
        """Count one more call from ``number`` on ``day``; that day's count."""

    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None,
                           *, state: str = "pending") -> int:
        """Book a callback; its id. ``state`` ``holding``: a kept turn, dialled by its placeholder in the
        queue (:mod:`ivr.routing.keep_turn`), never by the dialler."""

    async def next_callback(self, queue: str) -> Callback | None:
        """The oldest due callback for ``queue``, claimed for dialling; None when none is due."""

    async def finish_callback(self, callback_id: int, ok: bool, error: str = "", *, retry_after: float = 60.0,
                              max_attempts: int = 3) -> str:
        """Record a dial attempt; the callback's new state (done, pending again, failed)."""

    async def callbacks(self, state: str | None = None, *, booked_since: float | None = None) -> list[Callback]:
        """The callbacks, those in ``state`` only and those booked at ``booked_since`` (epoch) or later
        when given."""

    async def purge_callbacks(self, ended_before: float) -> int:
        """Forget the callbacks that ended (reached or given up) before ``ended_before`` (epoch): their
        numbers are not kept longer than the figures need them; how many."""

    async def find_callback(self, *, callback_id: int | None = None, uniqueid: str = "") -> Callback | None:
        """The callback ``callback_id``, or the last one booked by the call on the Asterisk channel
        ``uniqueid`` (a kept turn, booked from the queue); None when there is none."""

    async def add_notice(self, text: str, starts_at: datetime, ends_at: datetime | None, closes: bool, by: str) -> int:
        """Keep a closure notice (checked by :mod:`ivr.notices`); its id."""

    async def end_notice(self, notice_id: int, by: str) -> bool:
        """Switch a notice off now; False when there is no such notice or it was already off."""

    async def notices(self, limit: int = 100) -> list[Notice]:
        """The last ``limit`` notices, the newest first (those switched off included: the audit)."""

    async def save_journeys(self, journeys: list[dict[str, Any]]) -> None:
        """Keep the journeys (:meth:`ivr.calls.journey.Journey.as_dict`), each replacing its channel's last."""

    async def journeys(self, uniqueids: list[str]) -> dict[str, dict[str, Any]]:
        """The journeys of those channels that have one, by channel."""

    async def journeys_since(self, joined_after: float, limit: int = 100_000, *,
                             changed_after: float | None = None) -> list[dict[str, Any]]:
        """The journeys that began after ``joined_after`` (epoch), oldest first; only those saved after
        ``changed_after`` (epoch; the store's clock: the database server's with PostgreSQL) when given."""

    async def purge_journeys(self, joined_before: float) -> int:
        """Forget the journeys that began before ``joined_before`` (epoch); how many."""

    async def add_contacts(self, contacts: list[tuple[float, str, str, str]]) -> None:
        """Keep ``(at, kind, value, segment)`` contacts, the value as a keyed hash (``kind:value``)."""

    async def once_and_done(self, kind: str, start: float, end: float, days: float) -> dict[str, tuple[int, int]]:
        """For the contacts of ``kind`` between ``start`` and ``end`` (epoch), per segment: how many, and how
        many were followed by another of the same key within ``days`` days."""

    async def purge_contacts(self, before: float) -> int:
        """Forget the contacts older than ``before`` (epoch); how many."""

    async def add_version(self, texts: dict[str, str], digest: str, author: str, comment: str, action: str,
                          restores: int | None = None) -> LineVersion:
        """Keep a configuration that goes live (:mod:`ivr.versions`): the live one from now on."""

    async def versions(self, limit: int = 100) -> list[LineVersion]:
        """The last ``limit`` versions, the live one first, without their files."""

    async def version(self, number: int) -> LineVersion | None:
        """Version ``number`` with its files; None when there is none."""

    async def live_version(self) -> LineVersion | None:
        """The live version without its files; None before the first publish."""

    async def add_audit(self, actor: str, action: str, target: str = "", origin: str = "",
                        detail: dict[str, Any] | None = None) -> int:
        """Append to the audit trail (nothing changes or deletes an entry); its id."""

    async def audit(self, limit: int = 200, *, before_id: int | None = None) -> list[AuditEntry]:
        """The audit trail, newest first (``limit`` entries older than ``before_id`` when given)."""

    async def save_user(self, name: str, password_hash: str, role: str) -> None:
        """Add a console user, or set one's password hash and role (their failures forgotten)."""

    async def user(self, name: str) -> User | None:
        """The console user ``name``; None when there is none."""

    async def users(self) -> list[User]:
        """Every console user, by name."""

    async def remove_user(self, name: str) -> bool:
        """Remove a user and end their sessions; False when there was none."""

    async def sign_in_failed(self, name: str, lock_for: Callable[[int], float]) -> int:
        """Count a failed sign-in and lock the account ``lock_for(failures)`` seconds; the failures in a row."""

    async def signed_in(self, name: str, password_hash: str | None = None) -> None:
        """Forget a user's failures after a sign-in (keeping a re-made hash when given)."""

    async def add_session(self, key: str, user_name: str, csrf: str, expires_at: float) -> None:
        """Keep a signed-in session under the hash of its id."""

    async def session(self, key: str) -> Session | None:
        """The session under ``key`` while it lasts and its user exists; None otherwise."""

    async def end_session(self, key: str) -> None:
        """Sign a session out."""

    async def try_lead(self) -> bool:
        """Whether this node dials callbacks now (one node at a time)."""

    async def dialler_state(self) -> str:
        """Who dials callbacks: ``leading``, ``free``, ``node <name>``, or ``stalled: <why>``."""


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` is a PostgreSQL URL (else a SQLite file)."""
    return str(location).startswith(("postgresql://", "postgres://"))


def make_store(location: str | os.PathLike[str], *, caller_key: str = "", node: str = "") -> Store:
    """The store at ``location`` (not opened yet): a file path, or a ``postgresql://`` URL."""
    location = str(location)
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(location, caller_key=caller_key, node=node)
    return SqliteStore(location, caller_key=caller_key)
