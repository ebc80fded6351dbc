"""Several IVR nodes on one PostgreSQL store, against a real PostgreSQL server started here: the schema
migrates itself, each callback is dialled by one node, a dead node's callback by another, daily counts
and indicators are shared, and an outage of the database keeps calls answered and loses no record."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import date, datetime, timedelta, timezone

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from ivr.server.embedded import embedded_server
from ivr.server.notices import NoticeBoard
from ivr.sim.ami import SimAmi
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.store.postgres import PostgresStore
from ivr.store.schema import MIGRATIONS
from ivr.waiting import DEADLINE, until
from tests.clocks import OPEN
from tests.pg import PostgresServer, postgres_bin

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries "
                                                                 "(apt-get install postgresql; scripts/setup does it)")


@pytest.fixture(scope="module")
def pg():
    server = PostgresServer()
    server.start()
    yield server
    server.cleanup()


@contextlib.asynccontextmanager
async def two_stores(url: str):
    """Nodes "a" and "b" on one database, opened together (as two nodes starting at once), then closed."""
    a, b = PostgresStore(url, node="a"), PostgresStore(url, node="b")
    await asyncio.gather(a.open(wait=True), b.open(wait=True))
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


@contextlib.asynccontextmanager
async def two_nodes(url: str, tmp_path, ami: SimAmi):
    """Embedded servers ivr-1 and ivr-2 on one database and one (simulated) Asterisk manager, connected."""
    # Store operations get room: what these tests prove must not depend on how fast PostgreSQL answers
    # on this machine today (the 0.5 s a caller may be held is the product's, tested elsewhere).
    common = {"store": url, "ami_host": "127.0.0.1", "ami_port": ami.bound_port, "ami_user": "ivr",
              "ami_secret": SecretStr("ivrsecret"), "store_call_timeout": DEADLINE / 2}
    async with embedded_server(node_name="ivr-1", records=tmp_path / "a.jsonl", **common) as one, \
            embedded_server(node_name="ivr-2", records=tmp_path / "b.jsonl", **common) as two:
        for srv in (one, two):
            assert await srv.ami.wait_connected(DEADLINE)
        yield one, two


def call(*digits: str, caller: str = "0612345678", **expect) -> Scenario:
    return Scenario.model_validate({"name": "cluster", "call": {"at": OPEN, "caller": caller},
                                    "steps": [{"kind": "press", "digits": d} for d in digits], "expect": expect})


async def test_the_schema_is_created_once_and_migrating_again_changes_nothing(pg):
    url = pg.new_database()
    async with two_stores(url) as (a, b):  # two nodes starting together
        assert await a.migrate() == [] and await b.migrate() == []
        db = await asyncpg.connect(url)
        try:
            versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_migrations ORDER BY 1")]
            keys = await db.fetchval("SELECT count(*) FROM meta WHERE key = 'caller_key'")
        finally:
            await db.close()
        assert versions == [step.version for step in MIGRATIONS] and keys == 1
        # Both nodes hash caller numbers with the one key kept in the database.
        assert a._caller_hash("0612345678") == b._caller_hash("0612345678")


async def test_each_callback_is_claimed_by_exactly_one_of_two_nodes(pg):
    url = pg.new_database()
    async with two_stores(url) as (a, b):
        booked = [await (a if i % 2 else b).add_callback(f"06{i:08d}", "contractor", "agent_requested")
                  for i in range(60)]
        claimed: dict[str, list[int]] = {"a": [], "b": []}

        async def drain(store: PostgresStore) -> None:
            while (cb := await store.next_callback("contractor")) is not None:
                claimed[store.node].append(cb.id)
                await store.finish_callback(cb.id, True)

        await asyncio.gather(drain(a), drain(b), drain(a), drain(b))
        assert sorted(claimed["a"] + claimed["b"]) == sorted(booked)  # every one, none twice
        assert claimed["a"] and claimed["b"]  # both nodes took part
        assert {c.state for c in await a.callbacks()} == {"done"}


async def test_a_callback_claimed_by_a_node_that_died_is_dialled_by_another_after_its_lease(pg):
    url = pg.new_database()
    dead = await PostgresStore(url, node="dead").open(wait=True)
    alive = await PostgresStore(url, node="alive").open(wait=True)
    try:
        booked = await dead.add_callback("0611111111", "inhouse", "file_not_found", {"title": "permis"})
        assert (await dead.next_callback("inhouse")).id == booked  # claimed, then the node dies
        await dead.close()
        assert await alive.next_callback("inhouse") is None  # the lease (2 min) still holds
        # Two minutes later, on the database's clock (which decides): the lease has run out.
        db = await asyncpg.connect(url)
        try:
            await db.execute("UPDATE callbacks SET lease_until = lease_until - interval '121 seconds'")
        finally:
            await db.close()
        again = await alive.next_callback("inhouse")
        assert again is not None and again.id == booked and again.context == {"title": "permis"}
        assert await alive.finish_callback(again.id, True) == "done"
    finally:
        await alive.close()


async def test_one_node_dials_at_a_time_and_another_takes_over_when_it_dies(pg):
    url = pg.new_database()
    async with two_stores(url) as (a, b):
        assert await a.try_lead() and not await b.try_lead()
        assert await a.try_lead()  # still the leader
        # Node a's process is killed: PostgreSQL ends its session, and its lock with it.
        db = await asyncpg.connect(url)
        try:
            pid = await db.fetchval("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 340002")
            await db.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await db.close()
        await until(b.try_lead, "node b to take the lead once a's session is gone")
        assert not await a.try_lead()


async def test_a_notice_switched_on_at_one_node_is_heard_at_the_other_and_off_everywhere(pg):
    async with two_stores(pg.new_database()) as (a, b):
        board = NoticeBoard(b)
        start = datetime.now(timezone.utc) - timedelta(minutes=1)
        nid = await a.add_notice("Incident en cours.", start, None, False, "claire")
        await board.refresh()
        live = board.live()
        assert live is not None and (live.id, live.created_by, live.starts_at) == (nid, "claire", start)
        assert await b.end_notice(nid, "marc")
        await board.refresh()
        assert board.live() is None and (await a.notices())[0].ended_by == "marc"


async def test_daily_counts_are_the_same_on_every_node(pg):
    url = pg.new_database()
    async with two_stores(url) as (a, b):
        day = date(2026, 11, 24)
        assert [await a.count_call("0612345678", day), await b.count_call("0612345678", day),
                await a.count_call("0612345678", day)] == [1, 2, 3]
        assert await b.count_call("0612345678", date(2026, 11, 25)) == 1


async def kpis_of(srv) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{srv.admin.bound_port}/kpis") as r:
        return (await r.json())["windows"]["last_7_days"]


async def readyz(srv) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{srv.admin.bound_port}/readyz") as r:
        return await r.json()


async def test_two_nodes_share_records_counts_callbacks_and_indicators(pg, tmp_path):
    url = pg.new_database()
    ami = SimAmi(auth_delay=0.2)
    await ami.start()
    ami.set_load("contractor", logged_in=3, available=0, callers=9, talk_time=240)
    try:
        async with two_nodes(url, tmp_path, ami) as (one, two):
            for srv in (one, two):
                await srv.ami.refresh_queues()
            # The same caller on both nodes: the third call of the day gets priority, whichever node.
            first = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", one.agi_port)
            second = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", two.agi_port)
            third = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", one.agi_port)
            priorities = [r.trace.channel.variables.get("IVR_PRIORITY") for r in first + second + third]
            assert priorities == [None, None, "10"]
            # The dialplan is told which node took each call (no fail-over after that).
            assert [r.trace.channel.variables.get("IVR_NODE") for r in first + second] == ["ivr-1", "ivr-2"]
            # Callbacks booked on both nodes, while no agent is free.
            booked = []
            for i, srv in enumerate((one, two, one, two)):
                [r] = await run_scenarios([call("1", "2", "1", caller=f"070000000{i}", outcome="callback")],
                                          "127.0.0.1", srv.agi_port)
                assert r.passed, r.failures
                booked.append(f"070000000{i}")
            ami.set_load("contractor", logged_in=3, available=4, callers=0)
            for srv in (one, two):
                await srv.ami.refresh_queues()
            # Both dialers tick; the one holding the lock dials every callback, each once.
            await asyncio.gather(one.dialer.tick(), two.dialer.tick())
            await asyncio.gather(one.dialer.tick(), two.dialer.tick())
            dialled = [o["channel"] for o in ami.originates]
            assert sorted(dialled) == sorted(f"Local/{n}@ivr-callback-out" for n in booked)
            # Every node's calls on every node's console (7 calls: 3 routed, 4 callbacks).
            for srv in (one, two):
                await until(lambda s=srv: _records_sent(s), f"{srv.settings.node_name}'s records in the store")
                await srv.shared_kpis.poll()
                week = await kpis_of(srv)
                assert week["calls"] == 7 and week["callbacks"] == 4, week
            db = await asyncpg.connect(url)
            try:
                nodes = {r["node"]: r["n"] for r in await db.fetch(
                    "SELECT node, count(*) AS n FROM call_records GROUP BY node")}
            finally:
                await db.close()
            assert nodes == {"ivr-1": 4, "ivr-2": 3}
            ready = await readyz(one)
            assert ready["status"] == "ready" and ready["checks"]["store"].startswith("postgresql postgresql://ivr@")
    finally:
        await ami.stop()


async def _ready(srv) -> bool:
    return (await readyz(srv))["status"] == "ready"


async def _degraded(srv, queued: int | None = None) -> dict | None:
    """``/readyz`` when it says degraded (with ``queued`` records waiting for the store, if given)."""
    ready = await readyz(srv)
    if ready["status"] != "degraded":
        return None
    return ready if queued is None or ready["checks"]["records"]["queued"] == queued else None


async def _records_sent(srv) -> bool:
    return not srv.shared_records.queue and srv.shared_records.state == "ok"


async def test_a_database_outage_keeps_calls_answered_and_loses_no_record(tmp_path):
    server = PostgresServer()  # its own server: this test stops it
    server.start()
    try:
        url = server.new_database()
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "calls.jsonl") as srv:
            await run_scenarios([call("1", "2")], "127.0.0.1", srv.agi_port)
            await until(lambda: _records_sent(srv), "the records in the store")
            server.stop()  # the database goes away
            results = await run_scenarios([call("1", "2", caller=f"06111111{i:02d}", outcome="routed:contractor")
                                           for i in range(20)], "127.0.0.1", srv.agi_port, concurrency=5)
            assert all(r.passed for r in results), [r.failures for r in results if not r.passed]
            ready = await until(lambda: _degraded(srv, queued=20), "the node to find its database gone, 20 records queued")
            assert ready["ready"] and "unreachable" in ready["checks"]["store"]
            assert "Fonctionnement dégradé" in await _overview(srv)
            server.start()  # it comes back: the queued records go
            await until(lambda: _records_sent(srv), "the queued records in the store")
            # Ready again once calls ask the store again (the breaker that spared them the outage lets go).
            await until(lambda: _ready(srv), "the node ready again")
        db = await asyncpg.connect(url)
        try:
            assert await db.fetchval("SELECT count(*) FROM call_records") == 21
        finally:
            await db.close()
    finally:
        server.cleanup()


async def _overview(srv) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{srv.admin.bound_port}/",
                                                         headers={"Accept": "text/html"}) as r:
        return await r.text()


async def test_a_node_starts_while_the_database_is_away_and_joins_when_it_comes(tmp_path):
    server = PostgresServer()
    server.start()
    url = server.new_database()
    server.stop()
    try:
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "calls.jsonl") as srv:
            [r] = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", srv.agi_port)
            assert r.passed, r.failures  # answered and routed without its database
            await until(lambda: _degraded(srv), "the node to report its database away")
            server.start()
            await until(lambda: _records_sent(srv), "the queued records in the store")  # reconnected (every 5 s) and sent
            assert (await readyz(srv))["status"] == "ready"
    finally:
        server.cleanup()


async def test_a_restart_sends_what_a_crash_left_unsent(pg, tmp_path):
    url = pg.new_database()
    records = tmp_path / "calls.jsonl"
    # Records a node wrote to its file and never sent (it was killed): the next start sends them.
    lines = [{"call_id": f"lost{i}", "uniqueid": "1", "request": "ants-3400", "channel": "x", "caller": "06******78",
              "started_at": "2026-11-30T10:00:00+00:00", "ended_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                                                   time.gmtime()),
              "outcome": "self_served", "node": "ivr-1"} for i in range(3)]
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with embedded_server(node_name="ivr-1", store=url, records=records) as srv:
        await until(lambda: _records_sent(srv), "the records in the store")
        await srv.shared_kpis.poll()
        assert (await kpis_of(srv))["calls"] == 3
    async with embedded_server(node_name="ivr-1", store=url, records=records) as srv:  # again: nothing twice
        await until(lambda: _records_sent(srv), "the records in the store")
        await srv.shared_kpis.poll()
        assert (await kpis_of(srv))["calls"] == 3


def _queue_join(uniqueid: str, *variables: str, caller: str = "0612345678") -> list[tuple[str, object]]:
    """A QueueCallerJoin as Asterisk 22 sends it, with the channel variables manager.conf names."""
    return [("Event", "QueueCallerJoin"), ("Privilege", "agent,all"), ("Channel", f"PJSIP/tester-{uniqueid[-4:]}"),
            ("CallerIDNum", caller), ("Uniqueid", uniqueid), ("Queue", "contractor"), ("Position", "1"),
            ("Count", "1"), *[("ChanVariable", v) for v in variables]]


async def test_a_call_left_by_a_dead_node_gets_one_record_written_by_the_nodes_alive(pg, tmp_path):
    """Node ivr-3 died with a caller on the line: the safety net queued the caller (IVR_NODE set, no
    IVR_QUEUE). Both nodes alive see the queue join; the store keeps one record of it, with the dead
    node's name. Calls a node decided, calls no node took, and a call whose node recorded it after all
    get no such record."""
    url = pg.new_database()
    ami = SimAmi(auth_delay=0.2)
    await ami.start()
    try:
        async with two_nodes(url, tmp_path, ami) as (one, two):
            for srv in (one, two):
                srv.lost_calls.settle = 0.5
            # A call ivr-1 took and then recorded itself (its link to Asterisk broke, it lived on).
            [done] = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", one.agi_port)
            assert done.passed, done.failures
            await until(lambda: _records_sent(one), "ivr-1's records in the store")
            ami.emit(_queue_join("1796000000.1", "IVR_NODE=ivr-3", "IVR_SIP_CALL_ID=abc@192.0.2.1", "IVR_QUEUE="))
            ami.emit(_queue_join("1796000000.2", "IVR_NODE=ivr-3", "IVR_QUEUE=contractor"))  # decided
            ami.emit(_queue_join("1796000000.3", "IVR_NODE=", "IVR_QUEUE="))  # no node took it
            recorded = json.loads((tmp_path / "a.jsonl").read_text().splitlines()[-1])["uniqueid"]
            ami.emit(_queue_join(recorded, "IVR_NODE=ivr-1", "IVR_QUEUE="))
            # A join Asterisk never made (a caller field forged it): the caller is in no queue, so no record.
            ami.emit(_queue_join("1796000000.9", "IVR_NODE=ivr-3", "IVR_QUEUE="), listed=False)
            # Each node waited its settling time for the dead node's own record, then wrote the lost call.
            await until(lambda: all(s.lost_calls.written == 1 and s.lost_calls.refused == 1 and not s.lost_calls.pending
                                    for s in (one, two)),
                        "both nodes to have written the lost call and refused the forged one",
                        seen=lambda: [(s.lost_calls.written, s.lost_calls.refused, s.lost_calls.pending)
                                      for s in (one, two)])
            for srv in (one, two):
                await until(lambda s=srv: _records_sent(s), f"{srv.settings.node_name}'s records in the store")
            db = await asyncpg.connect(url)
            try:
                rows = [json.loads(r["record"]) | {"row_node": r["node"]}
                        for r in await db.fetch("SELECT node, record FROM call_records WHERE record->>'reason' = "
                                                "'node_lost'")]
            finally:
                await db.close()
            assert len(rows) == 1, rows
            [lost] = rows
            assert (lost["row_node"], lost["node"], lost["uniqueid"], lost["outcome"], lost["queue"]) == (
                "ivr-3", "ivr-3", "1796000000.1", "error_routed", "contractor")
            assert lost["sip_call_id"] == "abc@192.0.2.1" and lost["caller"] == "06******78"
            assert one.lost_calls.written == two.lost_calls.written == 1
            # Every node's indicators count it once.
            for srv in (one, two):
                await srv.shared_kpis.poll()
                assert (await kpis_of(srv))["calls"] == 2
    finally:
        await ami.stop()


# -- security round 3: a database that hangs, a lock held by a stranger, a password in the URL ----


async def test_a_database_that_stops_answering_costs_routed_calls_half_a_second_not_its_timeout(tmp_path):
    server = PostgresServer()  # its own server: this test freezes it
    server.start()
    try:
        url = server.new_database()
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "calls.jsonl") as srv:
            [warm] = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", srv.agi_port)
            assert warm.passed, warm.failures
            guard = srv.call_path_store
            server.freeze()  # the connections stay open, nothing answers (the pool's timeout is 5 s)
            try:
                started = time.monotonic()
                results = await run_scenarios([call("1", "2", caller=f"06222222{i:02d}", outcome="routed:contractor")
                                               for i in range(10)], "127.0.0.1", srv.agi_port)
                elapsed = time.monotonic() - started
                assert [r.failures for r in results if not r.passed] == []  # every caller reached the queue
                # Three calls waited the call-path timeout (0.5 s), then the store was not asked at all.
                assert (guard.failures, guard.skipped, guard.state) == (3, 7, "open")
                assert elapsed < 10 * 5.0 / 2  # far from ten calls each waiting the pool's 5 s
                ready = await readyz(srv)
                assert ready["status"] == "degraded" and ready["checks"]["store_on_calls"].startswith("too slow")
                async with aiohttp.ClientSession() as http, http.get(
                        f"http://127.0.0.1:{srv.admin.bound_port}/metrics") as resp:
                    assert "ivr_store_circuit_open 1.0" in await resp.text()
            finally:
                server.thaw()
    finally:
        server.cleanup()


async def test_a_stranger_holding_the_dialler_lock_shows_as_a_stalled_dialler(pg, tmp_path):
    url = pg.new_database()
    ami = SimAmi(auth_delay=0.2)
    await ami.start()
    stranger = await asyncpg.connect(url, server_settings={"application_name": "psql"})
    try:
        await stranger.fetchval("SELECT pg_advisory_lock($1)", 340002)  # a person's session, left open
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "a.jsonl", ami_host="127.0.0.1",
                                   ami_port=ami.bound_port, ami_user="ivr", ami_secret=SecretStr("ivrsecret")) as srv:
            assert await srv.ami.wait_connected(DEADLINE)
            await srv.dialer.tick()
            assert srv.dialer.state.startswith("stalled: the dialler's lock is held by a session that is no IVR node")
            assert "'psql'" in srv.dialer.state
            ready = await readyz(srv)
            assert ready["status"] == "degraded" and ready["checks"]["dialler"] == srv.dialer.state
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{srv.admin.bound_port}/metrics") as resp:
                assert "ivr_dialler_stalled 1.0" in await resp.text()
            await stranger.close()  # the session ends: the node takes the lead at its next tick
            await until(lambda: _leads(srv), "the node to take the dialler's lead")
            assert (await readyz(srv))["checks"]["dialler"] == "leading"
    finally:
        if not stranger.is_closed():
            await stranger.close()
        await ami.stop()


async def _leads(srv) -> bool:
    await srv.dialer.tick()
    return srv.dialer.state == "leading"


async def test_a_password_in_the_store_url_shows_nowhere(pg, tmp_path):
    import io

    from ivr.logs import configure_logging

    secret = "s3cret-in-url"
    url = pg.new_database() + f"?password={secret}"  # the test server trusts any password
    out = io.StringIO()
    configure_logging("json", "info", stream=out, force=True)
    try:
        async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "a.jsonl") as srv, \
                aiohttp.ClientSession() as http:
            pages = []
            for path, accept in (("/readyz", "application/json"), ("/", "text/html"), ("/calls", "text/html")):
                async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}{path}", headers={"Accept": accept}) as r:
                    pages.append(await r.text())
        # Unreachable too: the error a driver writes may quote the URL.
        broken = url.replace(f":{pg.port}/", ":1/")
        async with embedded_server(node_name="ivr-1", store=broken, records=tmp_path / "b.jsonl") as srv, \
                aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}/readyz") as r:
                pages.append(await r.text())
    finally:
        configure_logging("json", "critical", force=True)
    assert "password=***" in pages[0]
    assert all(secret not in page for page in pages) and secret not in out.getvalue()


async def test_two_nodes_sending_the_same_records_at_once_count_each_new_record_once(pg):
    """A record re-sent by a node that restarted, while the other node sends it too: the store keeps one,
    and the counts of new rows the two inserts report add up to the calls written, not more."""
    url = pg.new_database()
    rows = [(f"call-{i}", "a", f"2026-12-04T10:{i % 60:02d}:00+00:00", {"call_id": f"call-{i}", "outcome": "self_served"})
            for i in range(200)]
    async with two_stores(url) as (a, b):
        assert await a.insert_records(rows[:50]) == 50
        counts = await asyncio.gather(*(store.insert_records(part) for store in (a, b) for part in (rows, rows[100:])))
        assert sum(counts) == 150  # every call once, whichever insert wrote it
        assert await a.insert_records(rows) == 0
        assert await b.count_records() == 200


async def test_a_published_version_serves_new_calls_on_both_nodes_and_a_rollback_too(pg, tmp_path):
    from ivr.server.publishing import publish, rollback
    from tests.test_versions import SHORT_WELCOME, WELCOME, edited, heard, shipped

    url = pg.new_database()
    async with embedded_server(node_name="ivr-1", store=url, records=tmp_path / "a.jsonl") as one, \
            embedded_server(node_name="ivr-2", store=url, records=tmp_path / "b.jsonl") as two:
        checked = await one.draft_checker()(edited(shipped(), WELCOME, SHORT_WELCOME))
        started = time.monotonic()
        done = await publish(one.store, checked, author="alice", comment="accueil plus court", origin="test")
        assert done.ok, done.errors
        await until(lambda: all(srv.line_state.published == 1 for srv in (one, two)), "both nodes on version 1")
        reached = time.monotonic() - started
        for srv in (one, two):
            assert "protection_donnees" not in await heard(srv)
        back = await rollback(two.store, 0, two.draft_checker(), author="bob", comment="", origin="test")
        assert not back.ok  # there is no version 0: nothing changes
        # Version 2: the files as shipped, published from the other node.
        shipped_again = await publish(two.store, await two.draft_checker()(shipped()), author="bob",
                                      comment="accueil complet", origin="test")
        await until(lambda: all(srv.line_state.published == 2 for srv in (one, two)), "both nodes on version 2")
        assert shipped_again.version.number == 2 and "protection_donnees" in await heard(one)
        again = await rollback(two.store, 1, two.draft_checker(), author="bob", comment="", origin="test")
        await until(lambda: all(srv.line_state.published == again.version.number for srv in (one, two)),
                    "both nodes on the rollback")
        for srv in (one, two):
            assert "protection_donnees" not in await heard(srv)
        applied = [e.actor for e in await one.store.audit() if e.action == "applied" and e.target == "version 1"]
        assert sorted(applied) == ["node ivr-1", "node ivr-2"]
        print(f"publish reached both nodes in {reached:.2f} s (IVR_VERSION_POLL {one.settings.version_poll} s)")


async def test_a_preview_reads_the_calls_recorded_last_by_every_node(pg):
    from ivr.server.preview import last_records

    async with two_stores(pg.new_database()) as (a, b):
        ended = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
        for store, first in ((a, 0), (b, 30)):  # each node sends its calls in turn: insertion order is call order
            await store.insert_records([(f"c{i}", store.node, (ended + timedelta(minutes=i)).isoformat(),
                                         {"call_id": f"c{i}"}) for i in range(first, first + 30)])
        last = await last_records(10, since=None, records_file=None, store=a)
        assert [r["call_id"] for r in last] == [f"c{i}" for i in range(50, 60)]
        since = (ended + timedelta(minutes=55)).timestamp()
        assert [r["call_id"] for r in await last_records(10, since=since, records_file=None, store=b)] == \
            [f"c{i}" for i in range(56, 60)]
