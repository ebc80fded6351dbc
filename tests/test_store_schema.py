"""The schema is described once (``ivr/store/schema.py``) and both stores get it: the same tables and
columns in SQLite as in a real PostgreSQL (but the shared call records), each version applied once,
and a SQLite file written before the schema had versions brought up to date with nothing lost."""

from __future__ import annotations

import sqlite3
import time

import asyncpg
import pytest

from ivr.store.core import CallerHasher
from ivr.store.postgres import PostgresStore
from ivr.store.schema import MIGRATIONS
from ivr.store.sqlite import SqliteStore
from tests.pg import PostgresServer, postgres_bin

#: The schema SQLite stores were created with before the schema had versions (our own earlier code).
UNVERSIONED_SQLITE = """
CREATE TABLE callbacks (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, number TEXT NOT NULL,
    queue TEXT NOT NULL, reason TEXT NOT NULL, context TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '', updated_at REAL NOT NULL
);
CREATE INDEX callbacks_pending ON callbacks (state, queue, created_at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE caller_days (caller TEXT NOT NULL, day TEXT NOT NULL, calls INTEGER NOT NULL, PRIMARY KEY (caller, day));
INSERT INTO callbacks (created_at, number, queue, reason, updated_at) VALUES (1.0, '0612345678', 'q_interne', 'attente', 1.0);
INSERT INTO meta VALUES ('caller_key', 'an-old-key');
INSERT INTO caller_days VALUES ('h', '2026-12-01', 2);
"""

LATEST = [step.version for step in MIGRATIONS]


def sqlite_columns(path) -> dict[str, list[str]]:
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        return {name: sorted(r[1] for r in db.execute(f"PRAGMA table_info({name})")) for name in names}


async def test_a_fresh_sqlite_store_applies_every_version_once_and_keeps_its_rows(tmp_path):
    path = tmp_path / "s.sqlite"
    store = await SqliteStore(path).open()
    booked = await store.add_callback("0612345678", "q_interne", "attente")
    assert await store.migrate() == []
    await store.close()
    again = await SqliteStore(path).open()
    try:
        assert await again.migrate() == []
        assert [c.id for c in await again.callbacks()] == [booked]
    finally:
        await again.close()
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == LATEST


def test_processes_opening_a_new_sqlite_file_at_once_all_start_and_migrate_it_once(tmp_path):
    """Classic AGI starts one process per call: the first calls on a new store open it together. Each
    waits for the one migrating, then finds the schema done (they used to create the same tables twice,
    and the losers hung at exit on the store's open connection)."""
    import subprocess
    import sys

    path = tmp_path / "s.sqlite"
    opener = ("import asyncio, sys\nfrom ivr.store.sqlite import SqliteStore\n"
              "async def main():\n    await (await SqliteStore(sys.argv[1]).open()).close()\n"
              "asyncio.run(main())\n")
    procs = [subprocess.Popen([sys.executable, "-c", opener, str(path)], stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    try:
        done = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert [code for code, _ in done] == [0] * 6, [err[-500:] for _, err in done]
    with sqlite3.connect(path) as db:
        assert [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY 1")] == LATEST


async def test_an_unversioned_sqlite_file_is_brought_up_to_date_with_nothing_lost(tmp_path):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(UNVERSIONED_SQLITE)
    store = await SqliteStore(path).open()
    try:
        [old] = await store.callbacks()
        assert (old.number, old.queue, old.state) == ("0612345678", "q_interne", "pending")
        # The caller key kept in the file is still the one used: yesterday's counts still match.
        assert store._caller_hash.has_key and store._caller_hash("x") == CallerHasher("an-old-key")("x")
        # The old booking is dialled as any other, through the columns the file lacked.
        due = await store.next_callback("q_interne")
        assert due is not None and due.id == old.id
        assert await store.finish_callback(due.id, ok=True) == "done"
        assert await store.migrate() == []
    finally:
        await store.close()
    fresh = await SqliteStore(tmp_path / "new.sqlite").open()
    await fresh.close()
    assert sqlite_columns(path) == sqlite_columns(tmp_path / "new.sqlite")


@pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries "
                                                     "(apt-get install postgresql; scripts/setup does it)")
async def test_sqlite_and_postgresql_have_the_same_tables_and_columns_but_the_shared_call_records(tmp_path):
    server = PostgresServer()
    server.start()
    try:
        url = server.new_database()
        store = await PostgresStore(url).open(wait=True)
        await store.close()
        db = await asyncpg.connect(url)
        try:
            rows = await db.fetch("SELECT table_name, column_name FROM information_schema.columns "
                                  "WHERE table_schema = 'public'")
            versions = [r[0] for r in await db.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
        finally:
            await db.close()
    finally:
        server.cleanup()
    postgres: dict[str, list[str]] = {}
    for table, column in rows:
        postgres.setdefault(table, []).append(column)
    postgres = {table: sorted(columns) for table, columns in postgres.items()}
    lite = await SqliteStore(tmp_path / "s.sqlite").open()
    await lite.close()
    sqlite = sqlite_columns(tmp_path / "s.sqlite")
    assert versions == LATEST
    assert set(postgres) - set(sqlite) == {"call_records"}
    assert sqlite == {table: columns for table, columns in postgres.items() if table != "call_records"}


@pytest.fixture(params=["sqlite", "postgresql"])
async def either_store(request, tmp_path):
    """A fresh store of each kind (PostgreSQL when its binaries are here)."""
    if request.param == "sqlite":
        store = await SqliteStore(tmp_path / "s.sqlite").open()
        yield store
        await store.close()
        return
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql; scripts/setup does it)")
    server = PostgresServer()
    server.start()
    try:
        store = await PostgresStore(server.new_database()).open(wait=True)
        yield store
        await store.close()
    finally:
        server.cleanup()


async def test_both_stores_keep_a_calls_journey_replace_it_as_it_changes_and_purge_old_ones(either_store):
    from ivr.calls.journey import Journey

    store = either_store
    waiting = Journey("1795429103.2", "vm1", "inhouse", 1_000.0, updated_at=1_000.0)
    old = Journey("1795000000.1", "vm1", "contractor", 500.0, state="abandoned", waited_s=40, finished=True)
    await store.save_journeys([waiting.as_dict(), old.as_dict()])
    between = time.time()
    answered = Journey("1795429103.2", "vm1", "inhouse", 1_000.0, state="answered", waited_s=30, agent="agent1",
                       talk_s=200, finished=True, updated_at=1_250.0)
    await store.save_journeys([answered.as_dict()])
    kept = await store.journeys(["1795429103.2", "1795000000.1", "1.1"])
    assert Journey.from_dict(kept["1795429103.2"]) == answered and set(kept) == {"1795429103.2", "1795000000.1"}
    assert [j["uniqueid"] for j in await store.journeys_since(400.0)] == ["1795000000.1", "1795429103.2"]
    # A node reading again takes only what was saved since its last read (by the store's clock).
    assert [j["uniqueid"] for j in await store.journeys_since(400.0, changed_after=between)] == ["1795429103.2"]
    assert await store.journeys_since(400.0, changed_after=time.time() + 5) == []
    assert await store.purge_journeys(900.0) == 1
    assert [j["uniqueid"] for j in await store.journeys_since(0.0)] == ["1795429103.2"]
    # A kept turn's callback is found from the channel that booked it.
    booked = await store.add_callback("0612345678", "inhouse", "kept_turn",
                                      {"position": "2", "uniqueid": "1795429103.2"}, state="holding")
    assert (await store.find_callback(uniqueid="1795429103.2")).id == booked
    assert (await store.find_callback(callback_id=booked)).reason == "kept_turn"
    assert await store.find_callback(uniqueid="9.9") is None


async def test_both_stores_read_the_callbacks_booked_since_a_time_and_forget_those_ended_long_ago(either_store):
    store = either_store
    first = await store.add_callback("0612345678", "inhouse", "closed")
    second = await store.add_callback("0699999999", "contractor", "closed")
    await store.finish_callback(first, ok=True)
    booked_at = {c.id: c.created_at for c in await store.callbacks()}
    assert [c.id for c in await store.callbacks(booked_since=booked_at[second])] == [second]
    assert [c.id for c in await store.callbacks("pending", booked_since=0.0)] == [second]
    # Only a callback that ended goes: a pending one is still owed to the caller, however old.
    assert await store.purge_callbacks(time.time() + 60) == 1
    assert [(c.id, c.number) for c in await store.callbacks()] == [(second, "0699999999")]


async def test_both_stores_tell_who_called_again_within_the_follow_up_days_and_keep_no_number(either_store):
    day = 86400.0
    store = either_store
    await store.add_contacts([(0.0, "caller", "0612345678", "permis"), (2 * day, "caller", "0612345678", "permis"),
                              (1 * day, "caller", "0699999999", "cni"), (9 * day, "caller", "0699999999", "cni"),
                              (0.0, "file", "5458443881", "permis"), (0.5 * day, "file", "5458443881", "permis")])
    # Of the calls in the first day and a half: the first caller called again within 7 days, the second did not.
    assert await store.once_and_done("caller", 0.0, 1.5 * day, 7) == {"permis": (1, 1), "cni": (1, 0)}
    assert await store.once_and_done("caller", 0.0, 1.5 * day, 1) == {"permis": (1, 0), "cni": (1, 0)}
    assert await store.once_and_done("file", 0.0, 1.5 * day, 7) == {"permis": (2, 1)}
    assert await store.purge_contacts(1.5 * day) == 4
    assert await store.once_and_done("caller", 0.0, 10 * day, 7) == {"permis": (1, 0), "cni": (1, 0)}


async def test_contacts_are_kept_as_keyed_hashes_only(tmp_path):
    import sqlite3

    store = await SqliteStore(tmp_path / "s.sqlite").open()
    await store.add_contacts([(1.0, "caller", "0612345678", "permis"), (1.0, "file", "5458443881", "permis")])
    await store.close()
    rows = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT kind, key FROM contacts").fetchall()
    assert len(rows) == 2 and all("0612345678" not in key and "5458443881" not in key and len(key) == 32
                                  for _, key in rows)
