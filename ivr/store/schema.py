"""The stores' schema, described once, version by version, and written out for each database.

Both stores apply the same steps and note each applied version in ``schema_migrations``: a change
to the schema is one new :class:`Step` at the end of :data:`MIGRATIONS` (never edit a released
step), and both databases get it. What differs between them is only how a column's kind is
spelled (:func:`statements`): PostgreSQL keeps times as ``TIMESTAMPTZ``, SQLite as seconds since
the epoch; JSON is ``JSONB`` in one, text in the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Kind", "Now", "Column", "Table", "Index", "Step", "MIGRATIONS", "Dialect", "statements",
           "SCHEMA_MIGRATIONS", "column_sql", "index_sql", "table_sql", "tables"]


class Kind(Enum):
    """What a column holds (each database spells it its own way)."""

    KEY = "key"  # the row's own number, given by the database
    TEXT = "text"
    INT = "int"
    TIME = "time"  # an instant
    DAY = "day"  # a calendar day
    JSON = "json"


class Now(Enum):
    """A time column's default: the moment of the transaction, or of the statement's row itself."""

    TRANSACTION = "transaction"
    WALL = "wall"


class Dialect(Enum):
    """Which database a statement is written for."""

    POSTGRES = "postgresql"
    SQLITE = "sqlite"


@dataclass(frozen=True)
class Column:
    """One column; ``default`` is a value (text, number, ``{}``) or a :class:`Now`."""

    name: str
    kind: Kind
    default: str | int | dict[str, object] | Now | None = None
    null: bool = False


@dataclass(frozen=True)
class Table:
    """A table; ``shared_only`` when only the shared store has it (a single node keeps that
    elsewhere: its call records are in its JSON Lines file)."""

    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    unique: tuple[str, ...] = ()
    shared_only: bool = False


@dataclass(frozen=True)
class Index:
    """An index on ``table``'s ``columns``, in that order."""

    name: str
    table: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Step:
    """One version of the schema: the tables and indexes it adds."""

    version: int
    tables: tuple[Table, ...] = ()
    indexes: tuple[Index, ...] = ()


#: Where each store notes the versions it has applied (created before any step, where missing).
SCHEMA_MIGRATIONS = Table("schema_migrations", (
    Column("version", Kind.INT),
    Column("applied_at", Kind.TIME, Now.TRANSACTION),
), primary_key=("version",))

#: The schema, version by version. Never edit a released step: add one.
MIGRATIONS: tuple[Step, ...] = (
    Step(1, tables=(
        Table("callbacks", (
            Column("id", Kind.KEY),
            Column("created_at", Kind.TIME, Now.TRANSACTION),
            Column("number", Kind.TEXT),
            Column("queue", Kind.TEXT),
            Column("reason", Kind.TEXT),
            Column("context", Kind.JSON, {}),
            Column("state", Kind.TEXT, "pending"),
            Column("attempts", Kind.INT, 0),
            Column("not_before", Kind.TIME, Now.TRANSACTION),
            Column("last_error", Kind.TEXT, ""),
            # Which node booked it, which one dials it and until when (several nodes share a store).
            Column("booked_by", Kind.TEXT, ""),
            Column("claimed_by", Kind.TEXT, ""),
            Column("lease_until", Kind.TIME, null=True),
            Column("updated_at", Kind.TIME, Now.TRANSACTION),
        )),
        # A caller's calls per day, the caller as a keyed hash (see core.CallerHasher).
        Table("caller_days", (
            Column("caller", Kind.TEXT),
            Column("day", Kind.DAY),
            Column("calls", Kind.INT),
        ), primary_key=("caller", "day")),
        Table("meta", (Column("key", Kind.TEXT), Column("value", Kind.TEXT)), primary_key=("key",)),
    ), indexes=(Index("callbacks_due", "callbacks", ("queue", "state", "created_at")),)),
    Step(2, tables=(
        Table("call_records", (
            Column("id", Kind.KEY),
            Column("call_id", Kind.TEXT),
            Column("node", Kind.TEXT),
            Column("ended_at", Kind.TIME),
            # When the row arrived (not when its transaction began): readers page on it.
            Column("inserted_at", Kind.TIME, Now.WALL),
            Column("record", Kind.JSON),
        ), unique=("call_id",), shared_only=True),
    ), indexes=(Index("call_records_ended", "call_records", ("ended_at",)),
                Index("call_records_inserted", "call_records", ("inserted_at",)))),
    Step(3, tables=(
        # Closure notices (ivr/notices.py): kept after they end, with who switched them on and off.
        Table("notices", (
            Column("id", Kind.KEY),
            Column("text", Kind.TEXT),
            Column("starts_at", Kind.TIME),
            Column("ends_at", Kind.TIME, null=True),
            Column("closes", Kind.INT, 0),
            Column("created_by", Kind.TEXT),
            Column("created_at", Kind.TIME, Now.TRANSACTION),
            Column("ended_by", Kind.TEXT, ""),
            Column("ended_at", Kind.TIME, null=True),
        )),
    )),
    Step(4, tables=(
        # What happened to each call after the IVR, in the queues (ivr/calls/journey.py), written by the
        # node that took the call; the call record names the same Asterisk channel (uniqueid).
        Table("journeys", (
            Column("uniqueid", Kind.TEXT),
            Column("node", Kind.TEXT),
            Column("joined_at", Kind.TIME),
            Column("state", Kind.TEXT),
            Column("updated_at", Kind.TIME),
            Column("journey", Kind.JSON),
        ), primary_key=("uniqueid",)),
    ), indexes=(Index("journeys_joined", "journeys", ("joined_at",)),)),
    Step(5, tables=(
        # Who called about what, for « once and done » (ivr/server/contacts.py): the caller's number and
        # the file number as keyed hashes (never as such), the segment (title type), when. Purged once
        # older than the indicators' window and the follow-up days.
        Table("contacts", (
            Column("kind", Kind.TEXT),
            Column("key", Kind.TEXT),
            Column("segment", Kind.TEXT, ""),
            Column("at", Kind.TIME),
        )),
    ), indexes=(Index("contacts_key", "contacts", ("kind", "key", "at")), Index("contacts_at", "contacts", ("at",)))),
    Step(6, tables=(
        # Every configuration that went live (ivr/versions): flows, routing rules and prompt catalog as
        # their files' texts, numbered; the highest number is the live one (a rollback is a new number
        # with an older one's texts). Kept for ever.
        Table("line_versions", (
            Column("number", Kind.KEY),
            Column("hash", Kind.TEXT),
            Column("author", Kind.TEXT),
            Column("created_at", Kind.TIME, Now.TRANSACTION),
            Column("comment", Kind.TEXT, ""),
            Column("action", Kind.TEXT),
            Column("restores", Kind.INT, null=True),
            Column("texts", Kind.JSON),
        )),
        # Who did what to the line, when and from where (ivr/versions/audit.py). Append-only: the stores
        # have no method that changes or deletes a row.
        Table("audit", (
            Column("id", Kind.KEY),
            Column("at", Kind.TIME, Now.WALL),
            Column("actor", Kind.TEXT),
            Column("action", Kind.TEXT),
            Column("target", Kind.TEXT, ""),
            Column("origin", Kind.TEXT, ""),
            Column("detail", Kind.JSON, {}),
        )),
        # The console's users (ivr/versions/access.py): the password as an argon2 hash, a role, and the
        # failed sign-ins that lock the account for a while.
        Table("users", (
            Column("name", Kind.TEXT),
            Column("password_hash", Kind.TEXT),
            Column("role", Kind.TEXT),
            Column("created_at", Kind.TIME, Now.TRANSACTION),
            Column("failures", Kind.INT, 0),
            Column("locked_until", Kind.TIME, null=True),
        ), primary_key=("name",)),
        # Signed-in browsers, shared by every node: the session id as a hash (the cookie holds the id),
        # its user, its form token, when it ends.
        Table("sessions", (
            Column("key", Kind.TEXT),
            Column("user_name", Kind.TEXT),
            Column("csrf", Kind.TEXT),
            Column("created_at", Kind.TIME, Now.TRANSACTION),
            Column("expires_at", Kind.TIME),
        ), primary_key=("key",)),
    ), indexes=(Index("audit_at", "audit", ("at",)),)),
)

_SHARED_ONLY = frozenset(t.name for step in MIGRATIONS for t in step.tables if t.shared_only)

_TYPES: dict[Dialect, dict[Kind, str]] = {
    Dialect.POSTGRES: {Kind.KEY: "BIGSERIAL PRIMARY KEY", Kind.TEXT: "TEXT", Kind.INT: "INTEGER",
                       Kind.TIME: "TIMESTAMPTZ", Kind.DAY: "DATE", Kind.JSON: "JSONB"},
    Dialect.SQLITE: {Kind.KEY: "INTEGER PRIMARY KEY AUTOINCREMENT", Kind.TEXT: "TEXT", Kind.INT: "INTEGER",
                     Kind.TIME: "REAL", Kind.DAY: "TEXT", Kind.JSON: "TEXT"},
}

#: SQLite's "now" as seconds since the epoch, with the fraction (``unixepoch`` is newer than some SQLites).
_SQLITE_NOW = "((julianday('now') - 2440587.5) * 86400.0)"
_NOW: dict[Dialect, dict[Now, str]] = {
    Dialect.POSTGRES: {Now.TRANSACTION: "now()", Now.WALL: "clock_timestamp()"},
    Dialect.SQLITE: {Now.TRANSACTION: _SQLITE_NOW, Now.WALL: _SQLITE_NOW},
}


def _literal(value: str | int | dict[str, object]) -> str:
    if isinstance(value, dict):
        assert not value, "only the empty object is a JSON default"
        return "'{}'"
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def column_sql(column: Column, dialect: Dialect) -> str:
    """A column as ``CREATE TABLE`` (or ``ADD COLUMN``) writes it in ``dialect``."""
    parts = [column.name, _TYPES[dialect][column.kind]]
    if column.kind is not Kind.KEY and not column.null:
        parts.append("NOT NULL")
    if isinstance(column.default, Now):
        parts.append(f"DEFAULT {_NOW[dialect][column.default]}")
    elif column.default is not None:
        parts.append(f"DEFAULT {_literal(column.default)}")
    return " ".join(parts)


def table_sql(table: Table, dialect: Dialect, *, if_missing: bool = False) -> str:
    """``CREATE TABLE`` for ``table`` in ``dialect`` (``if_missing``: harmless where it exists)."""
    lines = [column_sql(c, dialect) for c in table.columns]
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    lines += [f"UNIQUE ({name})" for name in table.unique]
    return (f"CREATE TABLE {'IF NOT EXISTS ' if if_missing else ''}{table.name} (\n    "
            + ",\n    ".join(lines) + "\n)")


def _in(dialect: Dialect, table: str) -> bool:
    """Whether a store of ``dialect`` has ``table`` at all."""
    return dialect is Dialect.POSTGRES or table not in _SHARED_ONLY


def tables(step: Step, dialect: Dialect) -> tuple[Table, ...]:
    """The tables ``step`` adds in a store of ``dialect``."""
    return tuple(t for t in step.tables if _in(dialect, t.name))


def index_sql(index: Index, *, if_missing: bool = False) -> str:
    """``CREATE INDEX`` for ``index`` (``if_missing``: harmless where it exists already)."""
    return (f"CREATE INDEX {'IF NOT EXISTS ' if if_missing else ''}{index.name} "
            f"ON {index.table} ({', '.join(index.columns)})")


def statements(step: Step, dialect: Dialect) -> list[str]:
    """The SQL that applies ``step`` to a database of ``dialect``, one statement per item."""
    return ([table_sql(t, dialect) for t in tables(step, dialect)]
            + [index_sql(i) for i in step.indexes if _in(dialect, i.table)])
