"""The tracking service stub: aiohttp + SQLite (aiosqlite), seeded with a realistic dataset.

API (errors are JSON ``{"error": ...}``):

- ``GET /v1/files/{title_type}/{file_number}`` → the file, 404 unknown, 422 bad number (key check)
- ``GET /v1/files?title_type=&status=&limit=`` → sample files (lets testers pick numbers)
- ``GET /healthz``

Fault injection: ``latency`` (seconds added to every answer), ``fail`` (answer
503 to everything), ``hold`` (every file request waits until the hold is lifted:
a tester keeps calls in their lookup for as long as they need, then lets them
go) — set at start or with ``PUT /v1/_faults``, read with ``GET /v1/_faults``
(``held``: the requests waiting now) — and two magic file numbers
(:data:`~ivr.tracking.dataset.FAULT_NUMBERS`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import aiosqlite
from aiohttp import web

from ..ants3400.file_numbers import is_valid_file_number
from ..ants3400.statuses import STATUSES
from ..ants3400.titles import TITLE_TYPES
from .dataset import FAULT_NUMBERS, generate

__all__ = ["StubConfig", "Faults", "create_app", "run_stub", "open_database"]

DB = web.AppKey("db", aiosqlite.Connection)

_COLUMNS = ("title_type", "file_number", "status", "label", "submitted_at", "updated_at", "expected_at",
            "expertise", "complex", "next_step")


@dataclass
class StubConfig:
    """How the tracking stub runs: its data, seed, latency and failures."""

    db: str = ":memory:"
    seed: int = 3400
    per_title: int = 1500
    latency: float = 0.0
    fail: bool = False
    hold: bool = False
    today: date | None = None


class Faults:
    """The faults a running stub injects (changed with ``PUT /v1/_faults``)."""

    def __init__(self, cfg: StubConfig) -> None:
        self.latency = cfg.latency
        self.fail = cfg.fail
        #: Set while requests may go on; cleared while they are held.
        self._released = asyncio.Event()
        self.held = 0
        self.hold(cfg.hold)

    def hold(self, on: bool) -> None:
        """Hold (``on``) or release the answers (a test makes the service slow at will)."""
        if on:
            self._released.clear()
        else:
            self._released.set()

    async def wait_released(self) -> None:
        """Wait until the answers are released."""
        if self._released.is_set():
            return
        self.held += 1
        try:
            await self._released.wait()
        finally:
            self.held -= 1

    def as_json(self) -> dict[str, Any]:
        """The stub's fault settings as JSON."""
        return {"latency": self.latency, "fail": self.fail, "hold": not self._released.is_set(), "held": self.held}


async def open_database(cfg: StubConfig) -> aiosqlite.Connection:
    """Open (and seed if empty) the stub's SQLite database."""
    conn = await aiosqlite.connect(cfg.db)
    conn.row_factory = aiosqlite.Row
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS files (title_type TEXT, file_number TEXT, status TEXT, label TEXT,"
        " submitted_at TEXT, updated_at TEXT, expected_at TEXT, expertise INTEGER, complex INTEGER,"
        " next_step TEXT, PRIMARY KEY (title_type, file_number))"
    )
    async with conn.execute("SELECT COUNT(*) FROM files") as cur:
        (count,) = await cur.fetchone() or (0,)
    if count == 0:
        rows = [tuple(getattr(f, c) for c in _COLUMNS) for f in generate(cfg.seed, cfg.per_title, cfg.today)]
        await conn.executemany(f"INSERT INTO files VALUES ({','.join('?' * len(_COLUMNS))})", rows)
        await conn.commit()
    return conn


def _row(row: aiosqlite.Row) -> dict[str, Any]:
    out = {c: row[c] for c in _COLUMNS}
    out["expertise"] = bool(out["expertise"])
    out["complex"] = bool(out["complex"])
    return out


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class _Stub:
    """The stub's handlers over its configuration and its fault switches."""

    def __init__(self, cfg: StubConfig) -> None:
        self.cfg = cfg
        self.state = Faults(cfg)

    async def on_startup(self, app: web.Application) -> None:
        app[DB] = await open_database(self.cfg)

    async def on_cleanup(self, app: web.Application) -> None:
        await app[DB].close()

    @web.middleware
    async def faults(self, request: web.Request,
                     handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """What the fault switches say: hold file lookups, add latency, fail every call."""
        state = self.state
        if request.path.startswith("/v1/files/"):
            await state.wait_released()
        if request.path.startswith("/v1/") and not request.path.startswith("/v1/_faults"):
            if state.latency:
                await asyncio.sleep(state.latency)
            if state.fail:
                return _error(503, "service unavailable (fault injection)")
        return await handler(request)

    async def get_file(self, request: web.Request) -> web.Response:
        title = request.match_info["title_type"]
        number = request.match_info["file_number"]
        if title not in TITLE_TYPES:
            return _error(422, f"unknown title type {title!r}; one of {', '.join(TITLE_TYPES)}")
        if not is_valid_file_number(number):
            return _error(422, "invalid file number: 10 digits with a valid mod-97 key expected")
        fault = FAULT_NUMBERS.get(number)
        if fault == "unavailable":
            return _error(503, "service unavailable")
        if fault == "slow":
            await asyncio.sleep(10)
        async with request.app[DB].execute(
            "SELECT * FROM files WHERE title_type = ? AND file_number = ?", (title, number)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return _error(404, "no such file")
        return web.json_response(_row(row))

    async def list_files(self, request: web.Request) -> web.Response:
        q = request.query
        sql, args = "SELECT * FROM files WHERE 1=1", list[str | int]()
        if q.get("title_type"):
            if q["title_type"] not in TITLE_TYPES:
                return _error(422, f"unknown title type {q['title_type']!r}")
            sql += " AND title_type = ?"
            args.append(q["title_type"])
        if q.get("status"):
            if q["status"] not in STATUSES:
                return _error(422, f"unknown status {q['status']!r}; one of {', '.join(STATUSES)}")
            sql += " AND status = ?"
            args.append(q["status"])
        try:
            limit = min(max(int(q.get("limit", "20")), 1), 1000)
        except ValueError:
            return _error(422, "limit must be a number")
        sql += " ORDER BY file_number LIMIT ?"
        args.append(limit)
        async with request.app[DB].execute(sql, args) as cur:
            rows = [_row(r) for r in await cur.fetchall()]
        return web.json_response({"files": rows, "count": len(rows)})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def put_faults(self, request: web.Request) -> web.Response:
        state = self.state
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(422, "JSON body expected")
        if not isinstance(body, dict):
            return _error(422, "a JSON object expected")
        if "latency" in body:
            try:
                state.latency = max(0.0, float(body["latency"]))
            except (TypeError, ValueError):
                return _error(422, "latency must be a number of seconds")
        if "fail" in body:
            state.fail = bool(body["fail"])
        if "hold" in body:
            state.hold(bool(body["hold"]))
        return web.json_response(state.as_json())

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.as_json())


def create_app(cfg: StubConfig) -> web.Application:
    """The stub's HTTP application: file lookups, a listing, health, and the fault switches."""
    stub = _Stub(cfg)
    app = web.Application(middlewares=[stub.faults])
    app.router.add_get("/v1/files/{title_type}/{file_number}", stub.get_file)
    app.router.add_get("/v1/files", stub.list_files)
    app.router.add_get("/healthz", stub.healthz)
    app.router.add_put("/v1/_faults", stub.put_faults)
    app.router.add_get("/v1/_faults", stub.get_faults)
    app.on_startup.append(stub.on_startup)
    app.on_cleanup.append(stub.on_cleanup)
    return app


async def start_stub(cfg: StubConfig, host: str = "127.0.0.1", port: int = 8081) -> tuple[web.AppRunner, int]:
    """Start the stub in the running loop; returns (runner, bound port)."""
    runner = web.AppRunner(create_app(cfg), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, bound


def run_stub(cfg: StubConfig, host: str, port: int) -> None:
    """Serve the stub until stopped."""
    web.run_app(create_app(cfg), host=host, port=port, access_log=None, print=None)
