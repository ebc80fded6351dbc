"""The PostgreSQL store (asyncpg, pooled): what several IVR nodes share.

Callbacks, per-caller daily counts and call records live in one database, so any node can dial a
callback booked on another (a callback claimed by a node that died is dialled by another once its
lease runs out), every node counts a caller's calls the same, and every node's console sees every
node's calls.

Exactly one node dials at a time: the dialler of a node runs only while it holds a PostgreSQL
advisory lock (released by the server when that node's connection dies), and each callback is
claimed with ``FOR UPDATE SKIP LOCKED`` and a lease.

The schema (``schema.py``, the same steps as SQLite's) is created and migrated by the IVR
(``schema_migrations``: one row per applied version, applied under an advisory lock, each in its
transaction), so starting several nodes at once, or a node twice, is harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from ..notices import Notice
from ..privacy import printable
from ..versions.model import AuditEntry, LineVersion, Role, Session, User
from .core import CALLER_KEY, Callback, CallerHasher, new_caller_key
from .schema import MIGRATIONS, SCHEMA_MIGRATIONS, Dialect, statements, table_sql

__all__ = ["PostgresStore", "redact_url", "StoreUnavailable"]

log = structlog.get_logger("ivr.store")

#: How the dialling node names its lock's connection (``application_name``), and how long it may go
#: without ticking (it ticks every 2 s) before the others call the dialler stalled.
DIALLER_APP = "ivr-dialler:"
DIALLER_SILENCE = 30.0

#: Advisory lock keys (any constants the line owns).
_MIGRATION_LOCK = 340_001
DIALLER_LOCK = 340_002


class StoreUnavailable(RuntimeError):
    """The database cannot be reached now (the node keeps answering calls)."""


#: Connection parameters that hold a credential when written in a URL's query (libpq's names).
_SECRET_PARAMS = {"password", "sslpassword", "passfile", "sslkey", "sslcert"}


def redact_url(url: str) -> str:
    """The URL without any credential (``user:password@`` or ``?password=``), for logs and pages."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}{':***' if ':' in userinfo else ''}@{host}"
    query = "&".join(f"{name}=***" if name.lower() in _SECRET_PARAMS else f"{name}{sep}{value}"
                     for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


class PostgresStore:
    """The store over PostgreSQL; the same methods as :class:`~ivr.store.sqlite.SqliteStore`, plus
    call records and the dialler's lock."""

    kind = "postgresql"

    def __init__(self, url: str, *, caller_key: str = "", node: str = "", lease: float = 120.0,
                 min_size: int = 1, max_size: int = 10, command_timeout: float = 5.0) -> None:
        self.url = url
        self.node = node
        self.lease = lease
        self._caller_hash = CallerHasher(caller_key)
        self._pool_args = {"min_size": min_size, "max_size": max_size, "command_timeout": command_timeout}
        self._pool: asyncpg.Pool | None = None
        #: The connection holding (or trying for) the dialler's lock, and whether it holds it.
        self._leader: asyncpg.Connection | None = None
        self._leading = False
        self._connecting: asyncio.Task[None] | None = None
        #: Why the database could not be reached at start (while it is still being tried).
        self.last_error = ""

    @property
    def where(self) -> str:
        """The database's URL without credentials."""
        return redact_url(self.url)

    def _scrub(self, text: str) -> str:
        """An error's text without the URL's credentials (a driver may quote the URL it was given)."""
        parts = urlsplit(self.url)
        secrets_ = [parts.password or ""] + [value for name, _, value in (item.partition("=") for item in
                                                                          parts.query.split("&"))
                                             if name.lower() in _SECRET_PARAMS]
        for secret in filter(None, secrets_):
            text = text.replace(secret, "***")
        return text.replace(self.url, self.where)

    async def open(self, *, wait: bool = False) -> "PostgresStore":
        """Connect and migrate. A node starting while the database is away still starts (calls are
        answered, the store is "unreachable" until it comes back, tried every 5 s); ``wait`` raises
        instead."""
        try:
            await self._connect()
        except Exception as exc:
            if wait:
                raise
            self.last_error = self._scrub(f"{type(exc).__name__}: {exc}")
            log.error("store_unreachable", store=self.where, error=self.last_error)
            self._connecting = asyncio.create_task(self._keep_connecting())
        return self

    async def _connect(self) -> None:
        # A short connect timeout: a database that does not answer must not hold the start.
        pool = await asyncpg.create_pool(self.url, timeout=5, **self._pool_args)
        try:
            self._pool = pool
            await self.migrate()
            if not self._caller_hash.has_key:
                async with pool.acquire() as db:
                    await db.execute("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                     CALLER_KEY, new_caller_key())
                    self._caller_hash.use_key(await db.fetchval("SELECT value FROM meta WHERE key = $1", CALLER_KEY))
        except BaseException:
            self._pool = None
            await pool.close()
            raise
        self.last_error = ""

    async def _keep_connecting(self, every: float = 5.0) -> None:
        while self._pool is None:
            await asyncio.sleep(every)
            try:
                await self._connect()
                log.info("store_reachable", store=self.where)
            except Exception as exc:
                self.last_error = self._scrub(f"{type(exc).__name__}: {exc}")

    async def migrate(self) -> list[int]:
        """Apply the missing schema versions; returns those applied now (none on an up-to-date base)."""
        applied: list[int] = []
        async with self.pool.acquire() as db:
            await db.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
            try:
                await db.execute(table_sql(SCHEMA_MIGRATIONS, Dialect.POSTGRES, if_missing=True))
                done = {r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")}
                for step in MIGRATIONS:
                    if step.version in done:
                        continue
                    async with db.transaction():
                        for sql in statements(step, Dialect.POSTGRES):
                            await db.execute(sql)
                        await db.execute("INSERT INTO schema_migrations (version) VALUES ($1)", step.version)
                    applied.append(step.version)
            finally:
                await db.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        if applied:
            log.info("store_migrated", versions=applied, store=self.where)
        return applied

    async def close(self) -> None:
        """Stop connecting, release the dialler's lock and close the pool."""
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._leader is not None:
            await self._release_leader()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The connection pool (:class:`StoreUnavailable` while the database is unreachable)."""
        if self._pool is None:
            raise StoreUnavailable(f"the database {self.where} is unreachable")
        return self._pool

    async def health(self) -> str:
        """``ok`` or why the database cannot answer."""
        if self._pool is None:
            return "unreachable (not connected yet)"
        try:
            async with self.pool.acquire(timeout=2) as db:
                await db.fetchval("SELECT 1", timeout=2)
            return "ok"
        except Exception as exc:
            return f"unreachable ({type(exc).__name__})"

    # -- callers -------------------------------------------------------------------------------

    async def count_call(self, number: str, day: date) -> int:
        """Count one more call from ``number`` on ``day``; that day's count on every node."""
        if not number:
            return 1
        return int(await self.pool.fetchval(
            "INSERT INTO caller_days (caller, day, calls) VALUES ($1, $2, 1) "
            "ON CONFLICT (caller, day) DO UPDATE SET calls = caller_days.calls + 1 RETURNING calls",
            self._caller_hash(number), day))

    # -- callbacks -----------------------------------------------------------------------------

    async def add_callback(self, number: str, queue: str, reason: str, context: dict[str, Any] | None = None,
                           *, state: str = "pending") -> int:
        """Book a callback, noting this node as the one that booked it; its id."""
        return int(await self.pool.fetchval(
            "INSERT INTO callbacks (number, queue, reason, context, booked_by, state) VALUES ($1, $2, $3, $4, $5, $6) "
            "RETURNING id", number, queue, reason, json.dumps(context or {}), self.node, state))

    async def next_callback(self, queue: str) -> Callback | None:
        """Claim the oldest callback due for ``queue``: pending, or claimed by a node whose lease ran
        out (it died while dialling). Another node's concurrent claim skips the row."""
        row = await self.pool.fetchrow(
            "UPDATE callbacks SET state = 'dialing', claimed_by = $2, lease_until = now() + make_interval(secs => $3::float8), "
            "updated_at = now() WHERE id = ("
            "  SELECT id FROM callbacks WHERE queue = $1 AND not_before <= now() AND"
            "  (state = 'pending' OR (state = 'dialing' AND lease_until < now()))"
            "  ORDER BY created_at FOR UPDATE SKIP LOCKED LIMIT 1) "
            "RETURNING id, extract(epoch FROM created_at) AS created, number, queue, reason, context, attempts",
            queue, self.node, self.lease)
        if row is None:
            return None
        return Callback(row["id"], float(row["created"]), row["number"], row["queue"], row["reason"],
                        json.loads(row["context"]), "dialing", row["attempts"])

    async def finish_callback(self, callback_id: int, ok: bool, error: str = "", *, retry_after: float = 60.0,
                              max_attempts: int = 3) -> str:
        """Record a dial attempt; returns the new state (done, pending again, or failed)."""
        return str(await self.pool.fetchval(
            "UPDATE callbacks SET attempts = attempts + 1, last_error = $3, lease_until = NULL, updated_at = now(), "
            "state = CASE WHEN $2 THEN 'done' WHEN attempts + 1 >= $4 THEN 'failed' ELSE 'pending' END, "
            "not_before = now() + make_interval(secs => CASE WHEN $2 THEN 0 ELSE $5::float8 END) "
            "WHERE id = $1 RETURNING state", callback_id, ok, error, max_attempts, float(retry_after)))

    async def callbacks(self, state: str | None = None, *, booked_since: float | None = None) -> list[Callback]:
        """The callbacks, those in ``state`` only and booked since ``booked_since`` only when given."""
        rows = await self.pool.fetch(
            "SELECT id, extract(epoch FROM created_at) AS created, number, queue, reason, context, state, attempts "
            "FROM callbacks WHERE ($1::text IS NULL OR state = $1) "
            "AND ($2::float8 IS NULL OR created_at >= to_timestamp($2)) ORDER BY id", state or None, booked_since)
        return [Callback(r["id"], float(r["created"]), r["number"], r["queue"], r["reason"], json.loads(r["context"]),
                         r["state"], r["attempts"]) for r in rows]

    async def purge_callbacks(self, ended_before: float) -> int:
        """Forget the callbacks that ended before ``ended_before``; how many."""
        done = await self.pool.execute("DELETE FROM callbacks WHERE state IN ('done', 'failed') "
                                       "AND updated_at < to_timestamp($1)", ended_before)
        return int(str(done).rsplit(" ", 1)[-1] or 0)

    # -- journeys after the IVR --------------------------------------------------------------------

    async def save_journeys(self, journeys: list[dict[str, Any]]) -> None:
        """Keep the journeys, each replacing its channel's last (the node that took a call writes it);
        the row's ``updated_at`` is when it was saved (the database's clock), for :meth:`journeys_since`."""
        await self.pool.executemany(
            "INSERT INTO journeys (uniqueid, node, joined_at, state, updated_at, journey) "
            "VALUES ($1, $2, to_timestamp($3), $4, now(), $5::jsonb) "
            "ON CONFLICT (uniqueid) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, "
            "journey = excluded.journey",
            [(j["uniqueid"], j["node"], j["joined_at"], j["state"], json.dumps(j)) for j in journeys])

    async def journeys(self, uniqueids: list[str]) -> dict[str, dict[str, Any]]:
        """The journeys of those channels that have one, by channel."""
        rows = await self.pool.fetch("SELECT uniqueid, journey FROM journeys WHERE uniqueid = ANY($1::text[])",
                                     uniqueids)
        return {r["uniqueid"]: json.loads(r["journey"]) for r in rows}

    async def journeys_since(self, joined_after: float, limit: int = 100_000, *,
                             changed_after: float | None = None) -> list[dict[str, Any]]:
        """The journeys that began after ``joined_after`` (epoch), oldest first; those saved after
        ``changed_after`` only when given."""
        rows = await self.pool.fetch("SELECT journey FROM journeys WHERE joined_at > to_timestamp($1) "
                                     "AND ($3::float8 IS NULL OR updated_at > to_timestamp($3)) "
                                     "ORDER BY joined_at LIMIT $2", joined_after, limit, changed_after)
        return [json.loads(r["journey"]) for r in rows]

    async def purge_journeys(self, joined_before: float) -> int:
        """Forget the journeys that began before ``joined_before``; how many."""
        done = await self.pool.execute("DELETE FROM journeys WHERE joined_at < to_timestamp($1)", joined_before)
        return int(str(done).rsplit(" ", 1)[-1] or 0)

    async def find_callback(self, *, callback_id: int | None = None, uniqueid: str = "") -> Callback | None:
        """The callback ``callback_id``, or the last one the call on channel ``uniqueid`` booked."""
        sql = ("SELECT id, extract(epoch FROM created_at) AS created, number, queue, reason, context, state, attempts "
               "FROM callbacks WHERE ")
        r = await (self.pool.fetchrow(sql + "id = $1", callback_id) if callback_id is not None else
                   self.pool.fetchrow(sql + "context->>'uniqueid' = $1 ORDER BY id DESC LIMIT 1", uniqueid))
        return Callback(r["id"], float(r["created"]), r["number"], r["queue"], r["reason"], json.loads(r["context"]),
                        r["state"], r["attempts"]) if r else None

    # -- contacts (« once and done ») ---------------------------------------------------------------

    async def add_contacts(self, contacts: list[tuple[float, str, str, str]]) -> None:
        """Keep the contacts, each value as a keyed hash (the same key on every node: the store's)."""
        await self.pool.executemany(
            "INSERT INTO contacts (kind, key, segment, at) VALUES ($1, $2, $3, to_timestamp($4))",
            [(kind, self._caller_hash(f"{kind}:{value}"), segment, at) for at, kind, value, segment in contacts])

    async def once_and_done(self, kind: str, start: float, end: float, days: float) -> dict[str, tuple[int, int]]:
        """Per segment: the contacts of ``kind`` in [start, end), and those followed by another within ``days``."""
        rows = await self.pool.fetch(
            "SELECT c.segment, count(*) AS calls, count(*) FILTER (WHERE EXISTS (SELECT 1 FROM contacts d "
            "WHERE d.kind = c.kind AND d.key = c.key AND d.at > c.at "
            "AND d.at <= c.at + make_interval(secs => $4::float8))) AS repeated FROM contacts c "
            "WHERE c.kind = $1 AND c.at >= to_timestamp($2) AND c.at < to_timestamp($3) GROUP BY c.segment",
            kind, start, end, days * 86400)
        return {r["segment"]: (int(r["calls"]), int(r["repeated"])) for r in rows}

    async def purge_contacts(self, before: float) -> int:
        """Forget the contacts older than ``before``; how many."""
        done = await self.pool.execute("DELETE FROM contacts WHERE at < to_timestamp($1)", before)
        return int(str(done).rsplit(" ", 1)[-1] or 0)

    # -- closure notices -------------------------------------------------------------------------

    async def add_notice(self, text: str, starts_at: datetime, ends_at: datetime | None, closes: bool, by: str) -> int:
        """Keep a closure notice, seen by every node at its next poll; its id."""
        return int(await self.pool.fetchval(
            "INSERT INTO notices (text, starts_at, ends_at, closes, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            text, starts_at, ends_at, int(closes), by))

    async def end_notice(self, notice_id: int, by: str) -> bool:
        """Switch a notice off now, on every node; False when there is no such notice or it was already off."""
        done = await self.pool.execute(
            "UPDATE notices SET ended_by = $2, ended_at = now() WHERE id = $1 AND ended_at IS NULL", notice_id, by)
        return bool(done == "UPDATE 1")

    async def notices(self, limit: int = 100) -> list[Notice]:
        """The last ``limit`` notices, the newest first."""
        rows = await self.pool.fetch(
            "SELECT id, text, starts_at, ends_at, closes, created_by, created_at, ended_by, ended_at FROM notices "
            "ORDER BY id DESC LIMIT $1", limit)
        return [Notice(r["id"], r["text"], r["starts_at"], r["ends_at"], bool(r["closes"]), r["created_by"],
                       r["created_at"], r["ended_by"], r["ended_at"]) for r in rows]

    async def try_lead(self) -> bool:
        """Whether this node is the one that dials callbacks now. The lock lives with a connection of
        its own: if this node dies, PostgreSQL ends the session and another node takes the lead."""
        if self._leader is None or self._leader.is_closed():
            self._leader, self._leading = None, False
            try:
                # Named, so that whoever holds the lock can be told apart from a session of something else.
                self._leader = await asyncpg.connect(self.url, timeout=5,
                                                     server_settings={"application_name": f"{DIALLER_APP}{self.node}"})
            except Exception as exc:
                log.warning("dialler_lock_unavailable", error=type(exc).__name__)
                return False
        conn = self._leader
        try:
            if self._leading:  # a lock is only as alive as its connection
                await conn.fetchval("SELECT 1", timeout=2)
                await self._tick(conn)
                return True
            self._leading = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", DIALLER_LOCK, timeout=2))
            if self._leading:
                log.info("dialler_lead_taken", node=self.node)
                await self._tick(conn)
            return self._leading
        except Exception as exc:  # the connection is gone, and the lock with it: try again next tick
            log.warning("dialler_lock_lost" if self._leading else "dialler_lock_unavailable",
                        error=type(exc).__name__)
            conn.terminate()
            self._leader, self._leading = None, False
            return False

    async def _tick(self, conn: asyncpg.Connection) -> None:
        """The leader says it is alive: its node and the database's time (read by the other nodes)."""
        await conn.execute("INSERT INTO meta (key, value) VALUES ('dialler_tick', $1 || '|' || "
                           "extract(epoch FROM now())::text) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                           self.node, timeout=2)

    async def dialler_state(self) -> str:
        """Who dials callbacks: ``leading`` (this node), ``free``, ``node <name>``, or ``stalled: …`` when the
        lock is held by a session that is no node's dialler, or by a node that stopped ticking."""
        if self._leading:
            return "leading"
        row = await self.pool.fetchrow(
            "SELECT a.pid, a.application_name, (SELECT value FROM meta WHERE key = 'dialler_tick') AS tick, "
            "extract(epoch FROM now()) AS now FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objid = $1 AND l.granted", DIALLER_LOCK, timeout=2)
        if row is None:
            return "free"
        holder = str(row["application_name"] or "")
        if not holder.startswith(DIALLER_APP):
            return (f"stalled: the dialler's lock is held by a session that is no IVR node "
                    f"(pid {row['pid']}, application {printable(holder)[:40]!r}): no callback is dialled")
        node = holder.removeprefix(DIALLER_APP)
        ticked_node, _, at = str(row["tick"] or "").partition("|")
        age = float(row["now"]) - float(at) if at and ticked_node == node else None
        if age is None or age > DIALLER_SILENCE:
            return (f"stalled: node {printable(node)[:64]!r} holds the dialler's lock but has not dialled for "
                    f"{'ever' if age is None else f'{age:.0f} s'}: no callback is dialled")
        return f"node {node}"

    async def _release_leader(self) -> None:
        assert self._leader is not None
        try:
            await self._leader.close(timeout=2)
        except Exception:
            self._leader.terminate()
        self._leader, self._leading = None, False

    # -- call records --------------------------------------------------------------------------

    async def insert_records(self, rows: list[tuple[str, str, str, dict[str, Any]]]) -> int:
        """Insert (call_id, node, ended_at ISO, record) rows; a call already there is left as it is
        (re-sending after an outage or a restart is harmless). Returns how many were new."""
        from datetime import datetime

        values = [(call_id, node, datetime.fromisoformat(ended), json.dumps(record, ensure_ascii=False))
                  for call_id, node, ended, record in rows]
        # The rows the insert itself reports as new (RETURNING): right when another node writes the same
        # calls at the same moment, which counting before and after is not.
        inserted = await self.pool.fetch(
            "INSERT INTO call_records (call_id, node, ended_at, record) "
            "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]::jsonb[]) "
            "ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
            [v[0] for v in values], [v[1] for v in values], [v[2] for v in values], [v[3] for v in values])
        return len(inserted)

    async def records_since(self, *, inserted_after: float | None, ended_after: float, limit: int = 5000,
                            exclude_node: str = "") -> list[tuple[float, dict[str, Any]]]:
        """Records (insertion time, record) ended after ``ended_after`` (epoch) and inserted after
        ``inserted_after`` (epoch; None: any), oldest insertion first."""
        rows = await self.pool.fetch(
            "SELECT extract(epoch FROM inserted_at) AS ins, record FROM call_records "
            "WHERE ended_at > to_timestamp($1) AND ($2::float8 IS NULL OR inserted_at > to_timestamp($2)) "
            "AND node <> $3 ORDER BY inserted_at LIMIT $4", ended_after, inserted_after, exclude_node, limit)
        return [(float(r["ins"]), json.loads(r["record"])) for r in rows]

    async def last_records(self, count: int, *, ended_after: float | None = None) -> list[dict[str, Any]]:
        """The ``count`` records inserted last (every node's), ended after ``ended_after`` (epoch) when given;
        oldest first."""
        rows = await self.pool.fetch(
            "SELECT record FROM call_records WHERE ($1::float8 IS NULL OR ended_at > to_timestamp($1)) "
            "ORDER BY inserted_at DESC, id DESC LIMIT $2", ended_after, count)
        return [json.loads(r["record"]) for r in reversed(rows)]

    async def has_record(self, uniqueid: str, within: float = 3600.0) -> bool:
        """Whether a node recorded the Asterisk call ``uniqueid`` (ended in the last ``within`` s)."""
        found = await self.pool.fetchval(
            "SELECT 1 FROM call_records WHERE ended_at > now() - make_interval(secs => $2) "
            "AND record->>'uniqueid' = $1 AND record->>'reason' <> 'node_lost' LIMIT 1", uniqueid, within)
        return found is not None

    async def count_records(self) -> int:
        """How many call records the database holds."""
        return int(await self.pool.fetchval("SELECT count(*) FROM call_records"))

    # -- the line's versions, the audit trail, the console's users and sessions ------------------

    _VERSION = ("SELECT number, hash, author, extract(epoch FROM created_at) AS created, comment, action, restores{} "
                "FROM line_versions")

    @staticmethod
    def _version(row: asyncpg.Record, texts: dict[str, str] | None = None) -> LineVersion:
        return LineVersion(row["number"], row["hash"], row["author"], float(row["created"]), row["comment"],
                           row["action"], row["restores"], texts=texts or {})

    async def add_version(self, texts: dict[str, str], digest: str, author: str, comment: str, action: str,
                          restores: int | None = None) -> LineVersion:
        """Keep a configuration that goes live; it is the live one now (the highest number)."""
        number = await self.pool.fetchval(
            "INSERT INTO line_versions (hash, author, comment, action, restores, texts) "
            "VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING number", digest, author, comment, action, restores,
            json.dumps(texts))
        found = await self.version(int(number))
        assert found is not None
        return found

    async def versions(self, limit: int = 100) -> list[LineVersion]:
        """The last ``limit`` versions, the newest (live) first, without their files."""
        rows = await self.pool.fetch(self._VERSION.format("") + " ORDER BY number DESC LIMIT $1", limit)
        return [self._version(r) for r in rows]

    async def version(self, number: int) -> LineVersion | None:
        """Version ``number`` with its files; None when there is none."""
        row = await self.pool.fetchrow(self._VERSION.format(", texts") + " WHERE number = $1", number)
        return self._version(row, json.loads(row["texts"])) if row else None

    async def live_version(self) -> LineVersion | None:
        """The live version (the highest number), without its files; None before the first publish."""
        found = await self.versions(1)
        return found[0] if found else None

    async def add_audit(self, actor: str, action: str, target: str = "", origin: str = "",
                        detail: dict[str, Any] | None = None) -> int:
        """Append to the audit trail; the entry's id."""
        return int(await self.pool.fetchval(
            "INSERT INTO audit (actor, action, target, origin, detail) VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING id",
            actor, action, target, origin, json.dumps(detail or {})))

    async def audit(self, limit: int = 200, *, before_id: int | None = None) -> list[AuditEntry]:
        """The audit trail, newest first: ``limit`` entries older than ``before_id`` when given."""
        rows = await self.pool.fetch(
            "SELECT id, extract(epoch FROM at) AS at, actor, action, target, origin, detail FROM audit "
            "WHERE id < $1 ORDER BY id DESC LIMIT $2", before_id or 2**62, limit)
        return [AuditEntry(r["id"], float(r["at"]), r["actor"], r["action"], r["target"], r["origin"],
                           json.loads(r["detail"])) for r in rows]

    async def save_user(self, name: str, password_hash: str, role: str) -> None:
        """Add a user, or set an existing one's password and role (their failures forgotten)."""
        await self.pool.execute(
            "INSERT INTO users (name, password_hash, role) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
            "password_hash = excluded.password_hash, role = excluded.role, failures = 0, locked_until = NULL",
            name, password_hash, role)

    @staticmethod
    def _user(row: asyncpg.Record) -> User:
        locked = row["locked"]
        return User(row["name"], Role(row["role"]), row["password_hash"], row["failures"],
                    float(locked) if locked is not None else None)

    _USER = ("SELECT name, role, password_hash, failures, extract(epoch FROM locked_until) AS locked FROM users")

    async def user(self, name: str) -> User | None:
        """The user ``name``; None when there is none."""
        row = await self.pool.fetchrow(self._USER + " WHERE name = $1", name)
        return self._user(row) if row else None

    async def users(self) -> list[User]:
        """Every user, by name."""
        return [self._user(r) for r in await self.pool.fetch(self._USER + " ORDER BY name")]

    async def remove_user(self, name: str) -> bool:
        """Remove a user and end their sessions; False when there was none."""
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("DELETE FROM sessions WHERE user_name = $1", name)
            done = await db.execute("DELETE FROM users WHERE name = $1", name)
        return str(done).endswith(" 1")

    async def sign_in_failed(self, name: str, lock_for: Callable[[int], float]) -> int:
        """Count a failed sign-in of ``name`` and lock the account for ``lock_for(failures)`` seconds
        (from now); the failures in a row (0 for a name that is no user)."""
        failures = await self.pool.fetchval("UPDATE users SET failures = failures + 1 WHERE name = $1 "
                                            "RETURNING failures", name)
        if failures is None:
            return 0
        seconds = lock_for(int(failures))
        if seconds > 0:
            await self.pool.execute("UPDATE users SET locked_until = now() + make_interval(secs => $2::float8) "
                                    "WHERE name = $1", name, float(seconds))
        return int(failures)

    async def signed_in(self, name: str, password_hash: str | None = None) -> None:
        """Forget ``name``'s failures after a sign-in (and keep a re-made hash when given)."""
        await self.pool.execute("UPDATE users SET failures = 0, locked_until = NULL, "
                                "password_hash = COALESCE($2, password_hash) WHERE name = $1", name, password_hash)

    async def add_session(self, key: str, user_name: str, csrf: str, expires_at: float) -> None:
        """Keep a signed-in session (``key``: the id's hash); the expired ones go."""
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("DELETE FROM sessions WHERE expires_at < now()")
            await db.execute("INSERT INTO sessions (key, user_name, csrf, expires_at) "
                             "VALUES ($1, $2, $3, to_timestamp($4))", key, user_name, csrf, expires_at)

    async def session(self, key: str) -> Session | None:
        """The session ``key`` with its user, while it lasts and its user exists; None otherwise."""
        row = await self.pool.fetchrow(
            "SELECT u.name, u.role, s.csrf, extract(epoch FROM s.expires_at) AS expires FROM sessions s "
            "JOIN users u ON u.name = s.user_name WHERE s.key = $1 AND s.expires_at > now()", key)
        return Session(User(row["name"], Role(row["role"])), row["csrf"], float(row["expires"])) if row else None

    async def end_session(self, key: str) -> None:
        """Sign a session out."""
        await self.pool.execute("DELETE FROM sessions WHERE key = $1", key)
