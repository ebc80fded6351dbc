"""The SQLite store (aiosqlite): pending callbacks and how often each caller called today.

Caller numbers are kept only where they are needed to call back; the daily
counts use a keyed hash of the number (HMAC-SHA-256): the key comes from
``IVR_CALLER_HASH_KEY``, else a random key created once and kept in the store,
so the hashes cannot be reversed by hashing every telephone number.

The schema is ``schema.py``'s, the steps PostgreSQL applies too (but the shared tables).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import aiosqlite

from ..notices import Notice
from ..versions.model import AuditEntry, LineVersion, Role, Session, User
from .core import CALLER_KEY, Callback, CallerHasher, new_caller_key
from .schema import MIGRATIONS, SCHEMA_MIGRATIONS, Dialect, column_sql, index_sql, statements, table_sql, tables

__all__ = ["SqliteStore", "Callback"]


class SqliteStore:
    """The store of a single node, in one SQLite file."""

    kind = "sqlite"

    def __init__(self, path: str | Path, *, caller_key: str = "") -> None:
        self.path = str(path)
        self._caller_hash = CallerHasher(caller_key)
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> "SqliteStore":
        """Open the file (created if missing) and migrate the schema; the store."""
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path)
        try:
            await self.migrate()
            # A callback being dialled when the process stopped is dialled again.
            await self._db.execute("UPDATE callbacks SET state = 'pending' WHERE state = 'dialing'")
            if not self._caller_hash.has_key:
                await self._db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                                       (CALLER_KEY, new_caller_key()))
                async with self._db.execute("SELECT value FROM meta WHERE key = ?", (CALLER_KEY,)) as cur:
                    row = await cur.fetchone()
                assert row is not None  # written just above when missing
                self._caller_hash.use_key(row[0])
            await self._db.commit()
        except BaseException:
            # The connection's thread would keep the process alive after the error: close it first.
            await self.close()
            raise
        return self

    async def migrate(self) -> list[int]:
        """Apply the missing schema versions; returns those applied now.

        All in one transaction that takes the write lock first (``BEGIN IMMEDIATE``): processes that
        open a new file at once (classic AGI starts one per call) wait for the first to finish, then
        find the schema done, instead of creating the same tables twice."""
        # SQLite's DDL is transactional, but Python's driver does not begin a transaction for it.
        await self.db.execute("BEGIN IMMEDIATE")
        try:
            if await self._has_table("callbacks") and not await self._has_table(SCHEMA_MIGRATIONS.name):
                await self._adopt_unversioned()
            await self.db.execute(table_sql(SCHEMA_MIGRATIONS, Dialect.SQLITE, if_missing=True))
            async with self.db.execute("SELECT version FROM schema_migrations") as cur:
                done = {row[0] for row in await cur.fetchall()}
            applied: list[int] = []
            for step in MIGRATIONS:
                if step.version in done:
                    continue
                for sql in statements(step, Dialect.SQLITE):
                    await self.db.execute(sql)
                await self.db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (step.version,))
                applied.append(step.version)
            await self.db.commit()
        except BaseException:
            await self.db.rollback()
            raise
        return applied

    async def _adopt_unversioned(self) -> None:
        """A file made before the schema had versions (its tables are step 1's, some columns and
        an index short): add what is missing, then note step 1 as applied."""
        first = MIGRATIONS[0]
        for table in tables(first, Dialect.SQLITE):
            if not await self._has_table(table.name):
                await self.db.execute(table_sql(table, Dialect.SQLITE))
                continue
            async with self.db.execute(f"PRAGMA table_info({table.name})") as cur:
                present = {row[1] for row in await cur.fetchall()}
            for column in table.columns:
                if column.name not in present:
                    await self.db.execute(f"ALTER TABLE {table.name} ADD COLUMN {column_sql(column, Dialect.SQLITE)}")
        for index in first.indexes:
            await self.db.execute(index_sql(index, if_missing=True))
        await self.db.execute(table_sql(SCHEMA_MIGRATIONS, Dialect.SQLITE))
        await self.db.execute("INSERT INTO schema_migrations (version) VALUES (?)", (first.version,))

    async def _has_table(self, name: str) -> bool:
        async with self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) as cur:
            return await cur.fetchone() is not None

    async def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def where(self) -> str:
        """The file's path."""
        return self.path

    async def health(self) -> str:
        """``ok`` while open."""
        return "ok" if self._db is not None else "closed"

    async def try_lead(self) -> bool:
        """Always: a single node dials its own callbacks."""
        return True  # one node: it always dials its own callbacks

    async def dialler_state(self) -> str:
        """Always ``leading`` (a single node)."""
        return "leading"

    @property
    def db(self) -> aiosqlite.Connection:
        """The open connection."""
        assert self._db is not None, "store not opened"
        return self._db

    # -- callers -------------------------------------------------------------

    async def count_call(self, number: str, day: date) -> int:
        """Count one more call from ``number`` on ``day`` (the line's local day of the call).

        Returns that day's count (1 for a first call). The day is the caller's
        business, not the machine's: a simulated call on another day counts there.
        """
        if not number:
            return 1
        key, d = self._caller_hash(number), day.isoformat()
        await self.db.execute(
            "INSERT INTO caller_days (caller, day, calls) VALUES (?, ?, 1) "
            "ON CONFLICT (caller, day) DO UPDATE SET calls = calls + 1", (key, d))
        await self.db.commit()
        async with self.db.execute("SELECT calls FROM caller_days WHERE caller = ? AND day = ?", (key, d)) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 1

    # -- callbacks -------------------------------------------------------------

    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None,
                           *, state: str = "pending") -> int:
        """Book a callback; its id."""
        now = time.time()
        cur = await self.db.execute(
            "INSERT INTO callbacks (created_at, number, queue, reason, context, updated_at, state) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, number, queue, reason, json.dumps(context or {}), now, state))
        await self.db.commit()
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    async def next_callback(self, queue: str) -> Callback | None:
        """The oldest callback due for ``queue``, marked as being dialled."""
        async with self.db.execute(
            "SELECT id, created_at, number, queue, reason, context, state, attempts FROM callbacks "
            "WHERE state = 'pending' AND queue = ? AND not_before <= ? ORDER BY created_at LIMIT 1",
            (queue, time.time())) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        await self.db.execute("UPDATE callbacks SET state = 'dialing', updated_at = ? WHERE id = ?",
                              (time.time(), row[0]))
        await self.db.commit()
        return Callback(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), "dialing", row[7])

    async def finish_callback(self, callback_id: int, ok: bool, error: str = "", *, retry_after: float = 60.0,
                              max_attempts: int = 3) -> str:
        """Record a dial attempt; returns the new state (done, pending again, or failed)."""
        async with self.db.execute("SELECT attempts FROM callbacks WHERE id = ?", (callback_id,)) as cur:
            row = await cur.fetchone()
        attempts = (row[0] if row else 0) + 1
        state = "done" if ok else ("failed" if attempts >= max_attempts else "pending")
        await self.db.execute(
            "UPDATE callbacks SET state = ?, attempts = ?, last_error = ?, not_before = ?, updated_at = ? WHERE id = ?",
            (state, attempts, error, time.time() + (0 if ok else retry_after), time.time(), callback_id))
        await self.db.commit()
        return state

    async def callbacks(self, state: str | None = None, *, booked_since: float | None = None) -> list[Callback]:
        """The callbacks, those in ``state`` only and booked since ``booked_since`` only when given."""
        sql = "SELECT id, created_at, number, queue, reason, context, state, attempts FROM callbacks WHERE 1 = 1"
        args: tuple[Any, ...] = ()
        if state:
            sql += " AND state = ?"
            args += (state,)
        if booked_since is not None:
            sql += " AND created_at >= ?"
            args += (booked_since,)
        async with self.db.execute(sql + " ORDER BY id", args) as cur:
            rows = await cur.fetchall()
        return [Callback(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) for r in rows]

    async def purge_callbacks(self, ended_before: float) -> int:
        """Forget the callbacks that ended before ``ended_before``; how many."""
        cur = await self.db.execute("DELETE FROM callbacks WHERE state IN ('done', 'failed') AND updated_at < ?",
                                    (ended_before,))
        await self.db.commit()
        return cur.rowcount

    # -- journeys after the IVR --------------------------------------------------------------------

    async def save_journeys(self, journeys: list[dict[str, Any]]) -> None:
        """Keep the journeys, each replacing its channel's last; the row's ``updated_at`` is when it was
        saved, for :meth:`journeys_since`."""
        await self.db.executemany(
            "INSERT INTO journeys (uniqueid, node, joined_at, state, updated_at, journey) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (uniqueid) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
            "journey = excluded.journey",
            [(j["uniqueid"], j["node"], j["joined_at"], j["state"], time.time(), json.dumps(j)) for j in journeys])
        await self.db.commit()

    async def journeys(self, uniqueids: list[str]) -> dict[str, dict[str, Any]]:
        """The journeys of those channels that have one, by channel."""
        if not uniqueids:
            return {}
        marks = ", ".join("?" * len(uniqueids))
        async with self.db.execute(f"SELECT uniqueid, journey FROM journeys WHERE uniqueid IN ({marks})",
                                   uniqueids) as cur:
            return {row[0]: json.loads(row[1]) for row in await cur.fetchall()}

    async def journeys_since(self, joined_after: float, limit: int = 100_000, *,
                             changed_after: float | None = None) -> list[dict[str, Any]]:
        """The journeys that began after ``joined_after`` (epoch), oldest first; those saved after
        ``changed_after`` only when given."""
        async with self.db.execute("SELECT journey FROM journeys WHERE joined_at > ? AND updated_at > ? "
                                   "ORDER BY joined_at LIMIT ?",
                                   (joined_after, -1.0 if changed_after is None else changed_after, limit)) as cur:
            return [json.loads(row[0]) for row in await cur.fetchall()]

    async def purge_journeys(self, joined_before: float) -> int:
        """Forget the journeys that began before ``joined_before``; how many."""
        cur = await self.db.execute("DELETE FROM journeys WHERE joined_at < ?", (joined_before,))
        await self.db.commit()
        return cur.rowcount

    async def find_callback(self, *, callback_id: int | None = None, uniqueid: str = "") -> Callback | None:
        """The callback ``callback_id``, or the last one the call on channel ``uniqueid`` booked."""
        sql = "SELECT id, created_at, number, queue, reason, context, state, attempts FROM callbacks WHERE "
        if callback_id is not None:
            query = self.db.execute(sql + "id = ?", (callback_id,))
        else:
            query = self.db.execute(sql + "json_extract(context, '$.uniqueid') = ? ORDER BY id DESC LIMIT 1",
                                    (uniqueid,))
        async with query as cur:
            r = await cur.fetchone()
        return Callback(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6], r[7]) if r else None

    # -- contacts (« once and done ») ---------------------------------------------------------------

    async def add_contacts(self, contacts: list[tuple[float, str, str, str]]) -> None:
        """Keep the contacts, each value as a keyed hash."""
        await self.db.executemany("INSERT INTO contacts (kind, key, segment, at) VALUES (?, ?, ?, ?)",
                                  [(kind, self._caller_hash(f"{kind}:{value}"), segment, at)
                                   for at, kind, value, segment in contacts])
        await self.db.commit()

    async def once_and_done(self, kind: str, start: float, end: float, days: float) -> dict[str, tuple[int, int]]:
        """Per segment: the contacts of ``kind`` in [start, end), and those followed by another within ``days``."""
        async with self.db.execute(
                "SELECT c.segment, count(*), sum(EXISTS (SELECT 1 FROM contacts d WHERE d.kind = c.kind AND "
                "d.key = c.key AND d.at > c.at AND d.at <= c.at + ?)) FROM contacts c "
                "WHERE c.kind = ? AND c.at >= ? AND c.at < ? GROUP BY c.segment",
                (days * 86400, kind, start, end)) as cur:
            return {row[0]: (int(row[1]), int(row[2] or 0)) for row in await cur.fetchall()}

    async def purge_contacts(self, before: float) -> int:
        """Forget the contacts older than ``before``; how many."""
        cur = await self.db.execute("DELETE FROM contacts WHERE at < ?", (before,))
        await self.db.commit()
        return cur.rowcount

    # -- closure notices -------------------------------------------------------------------------

    async def add_notice(self, text: str, starts_at: datetime, ends_at: datetime | None, closes: bool, by: str) -> int:
        """Keep a closure notice; its id."""
        cur = await self.db.execute(
            "INSERT INTO notices (text, starts_at, ends_at, closes, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (text, starts_at.timestamp(), ends_at.timestamp() if ends_at else None, int(closes), by, time.time()))
        await self.db.commit()
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    async def end_notice(self, notice_id: int, by: str) -> bool:
        """Switch a notice off now; False when there is no such notice or it was already off."""
        cur = await self.db.execute("UPDATE notices SET ended_by = ?, ended_at = ? WHERE id = ? AND ended_at IS NULL",
                                    (by, time.time(), notice_id))
        await self.db.commit()
        return cur.rowcount == 1

    async def notices(self, limit: int = 100) -> list[Notice]:
        """The last ``limit`` notices, the newest first."""
        async with self.db.execute(
                "SELECT id, text, starts_at, ends_at, closes, created_by, created_at, ended_by, ended_at FROM notices "
                "ORDER BY id DESC LIMIT ?", (limit,)) as cur:
            rows = await cur.fetchall()

        def at(value: float | None) -> datetime | None:
            return datetime.fromtimestamp(value, timezone.utc) if value is not None else None
        return [Notice(r[0], r[1], datetime.fromtimestamp(r[2], timezone.utc), at(r[3]), bool(r[4]), r[5],
                       datetime.fromtimestamp(r[6], timezone.utc), r[7], at(r[8])) for r in rows]

    # -- the line's versions, the audit trail, the console's users and sessions ------------------

    async def add_version(self, texts: dict[str, str], digest: str, author: str, comment: str, action: str,
                          restores: int | None = None) -> LineVersion:
        """Keep a configuration that goes live; it is the live one now (the highest number)."""
        cur = await self.db.execute(
            "INSERT INTO line_versions (hash, author, created_at, comment, action, restores, texts) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", (digest, author, time.time(), comment, action, restores, json.dumps(texts)))
        await self.db.commit()
        assert cur.lastrowid is not None
        found = await self.version(int(cur.lastrowid))
        assert found is not None
        return found

    async def versions(self, limit: int = 100) -> list[LineVersion]:
        """The last ``limit`` versions, the newest (live) first, without their files."""
        async with self.db.execute("SELECT number, hash, author, created_at, comment, action, restores "
                                   "FROM line_versions ORDER BY number DESC LIMIT ?", (limit,)) as cur:
            return [LineVersion(*row) for row in await cur.fetchall()]

    async def version(self, number: int) -> LineVersion | None:
        """Version ``number`` with its files; None when there is none."""
        async with self.db.execute("SELECT number, hash, author, created_at, comment, action, restores, texts "
                                   "FROM line_versions WHERE number = ?", (number,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        number, digest, author, created, comment, action, restores, texts = row
        return LineVersion(number, digest, author, created, comment, action, restores, texts=json.loads(texts))

    async def live_version(self) -> LineVersion | None:
        """The live version (the highest number), without its files; None before the first publish."""
        found = await self.versions(1)
        return found[0] if found else None

    async def add_audit(self, actor: str, action: str, target: str = "", origin: str = "",
                        detail: dict[str, Any] | None = None) -> int:
        """Append to the audit trail; the entry's id."""
        cur = await self.db.execute("INSERT INTO audit (at, actor, action, target, origin, detail) "
                                    "VALUES (?, ?, ?, ?, ?, ?)",
                                    (time.time(), actor, action, target, origin, json.dumps(detail or {})))
        await self.db.commit()
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    async def audit(self, limit: int = 200, *, before_id: int | None = None) -> list[AuditEntry]:
        """The audit trail, newest first: ``limit`` entries older than ``before_id`` when given."""
        async with self.db.execute("SELECT id, at, actor, action, target, origin, detail FROM audit WHERE id < ? "
                                   "ORDER BY id DESC LIMIT ?", (before_id or 2**62, limit)) as cur:
            return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in await cur.fetchall()]

    async def save_user(self, name: str, password_hash: str, role: str) -> None:
        """Add a user, or set an existing one's password and role (their failures forgotten)."""
        await self.db.execute(
            "INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO "
            "UPDATE SET password_hash = excluded.password_hash, role = excluded.role, failures = 0, locked_until = NULL",
            (name, password_hash, role, time.time()))
        await self.db.commit()

    async def user(self, name: str) -> User | None:
        """The user ``name``; None when there is none."""
        async with self.db.execute("SELECT name, role, password_hash, failures, locked_until FROM users "
                                   "WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        return User(row[0], Role(row[1]), row[2], row[3], row[4]) if row else None

    async def users(self) -> list[User]:
        """Every user, by name."""
        async with self.db.execute("SELECT name, role, password_hash, failures, locked_until FROM users "
                                   "ORDER BY name") as cur:
            return [User(r[0], Role(r[1]), r[2], r[3], r[4]) for r in await cur.fetchall()]

    async def remove_user(self, name: str) -> bool:
        """Remove a user and end their sessions; False when there was none."""
        await self.db.execute("DELETE FROM sessions WHERE user_name = ?", (name,))
        cur = await self.db.execute("DELETE FROM users WHERE name = ?", (name,))
        await self.db.commit()
        return cur.rowcount == 1

    async def sign_in_failed(self, name: str, lock_for: Callable[[int], float]) -> int:
        """Count a failed sign-in of ``name`` and lock the account for ``lock_for(failures)`` seconds
        (from now); the failures in a row (0 for a name that is no user)."""
        await self.db.execute("UPDATE users SET failures = failures + 1 WHERE name = ?", (name,))
        async with self.db.execute("SELECT failures FROM users WHERE name = ?", (name,)) as cur:
            row = await cur.fetchone()
        failures = int(row[0]) if row else 0
        seconds = lock_for(failures)
        if row and seconds > 0:
            await self.db.execute("UPDATE users SET locked_until = ? WHERE name = ?", (time.time() + seconds, name))
        await self.db.commit()
        return failures

    async def signed_in(self, name: str, password_hash: str | None = None) -> None:
        """Forget ``name``'s failures after a sign-in (and keep a re-made hash when given)."""
        await self.db.execute("UPDATE users SET failures = 0, locked_until = NULL, "
                              "password_hash = COALESCE(?, password_hash) WHERE name = ?", (password_hash, name))
        await self.db.commit()

    async def add_session(self, key: str, user_name: str, csrf: str, expires_at: float) -> None:
        """Keep a signed-in session (``key``: the id's hash); the expired ones go."""
        await self.db.execute("DELETE FROM sessions WHERE expires_at < ?", (time.time(),))
        await self.db.execute("INSERT INTO sessions (key, user_name, csrf, created_at, expires_at) "
                              "VALUES (?, ?, ?, ?, ?)", (key, user_name, csrf, time.time(), expires_at))
        await self.db.commit()

    async def session(self, key: str) -> Session | None:
        """The session ``key`` with its user, while it lasts and its user exists; None otherwise."""
        async with self.db.execute(
                "SELECT u.name, u.role, s.csrf, s.expires_at FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.key = ? AND s.expires_at > ?", (key, time.time())) as cur:
            row = await cur.fetchone()
        return Session(User(row[0], Role(row[1])), row[2], row[3]) if row else None

    async def end_session(self, key: str) -> None:
        """Sign a session out."""
        await self.db.execute("DELETE FROM sessions WHERE key = ?", (key,))
        await self.db.commit()
