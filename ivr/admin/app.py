"""The admin HTTP server (aiohttp): health, readiness, metrics, and the operators' console.

JSON for machines; ``/``, ``/calls``, ``/calls/{id}``, ``/kpis``, ``/flows`` and ``/flows/{name}``
answer the console's HTML pages to a browser (``ivr.admin.pages``), with ``/static`` for its style
sheet and script. Every endpoint but ``/healthz`` and ``/static`` needs the admin token
(``Authorization: Bearer …``) when one is set; binding beyond loopback without a token is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from . import pages
from .daily import days_csv
from .guard import ConnectionGuard, add_security_headers, allowed_hosts, loopback_host, security_middleware
from .kpis import WINDOWS
from .status import ServerStatus

__all__ = ["AdminServer", "AdminConfigError"]

_STATIC = Path(__file__).resolve().parent / "static"
#: The console's own files, served by name only.
STATIC_FILES = {"console.css": (_STATIC / "console.css", "text/css"),
                "console.js": (_STATIC / "console.js", "text/javascript"),
                "favicon.svg": (_STATIC / "favicon.svg", "image/svg+xml")}


class AdminConfigError(RuntimeError):
    """The console cannot start as configured (e.g. no token on a non-loopback address)."""


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "") and request.query.get("format") != "json"


def _html(page: str, status: int = 200) -> web.Response:
    return web.Response(text=page, content_type="text/html", status=status)


class AdminServer:
    """Admin HTTP over a :class:`~ivr.admin.status.ServerStatus`."""

    def __init__(self, status: ServerStatus, host: str, port: int, token: str = "", *,
                 hosts: Iterable[str] = (), max_connections: int = 64, header_timeout: float = 5.0,
                 brand: str = pages.BRAND) -> None:
        if not token and not loopback_host(host):
            raise AdminConfigError(
                f"the admin HTTP server would listen on {host} without a token: set IVR_ADMIN_TOKEN")
        self.status = status
        #: The console's name (the line's profile says it: « SVI 34 00 »).
        self.brand = brand
        self.host = host
        self.port = port
        self.token = token
        self.hosts = allowed_hosts(host, token, hosts)
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.guard: ConnectionGuard | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.base_events.Server | None = None

    @property
    def bound_port(self) -> int:
        """The port the console listens on (the one the system chose when asked for 0)."""
        assert self._listener is not None
        return int(self._listener.sockets[0].getsockname()[1])

    def app(self) -> web.Application:
        """The aiohttp application: every route, behind the security middleware."""
        app = web.Application(middlewares=[security_middleware(self.token, self.hosts, self._request_started)],
                              client_max_size=64 * 1024)
        app.on_response_prepare.append(add_security_headers)
        app.router.add_get("/", self.overview)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/calls", self.calls)
        app.router.add_get("/calls/recent", self.recent)
        app.router.add_get("/calls/{call_id}", self.call)
        app.router.add_get("/queues", self.queues)
        app.router.add_get("/flows", self.flows)
        app.router.add_get("/flows/{name}", self.flow)
        app.router.add_get("/flows/{name}/graph", self.flow_graph)
        app.router.add_post("/flows/reload", self.reload)
        app.router.add_get("/kpis", self.kpis)
        app.router.add_get("/kpis/days", self.days)
        app.router.add_get("/notices", self.notices)
        app.router.add_post("/notices", self.add_notice)
        app.router.add_post("/notices/{id:[0-9]+}/end", self.end_notice)
        return app

    def _request_started(self, transport: object) -> None:
        if self.guard is not None:
            self.guard.mark_started(transport)

    async def start(self) -> None:
        """Listen on the configured address."""
        # Idle keep-alive connections close after 5 s; header lines and fields are bounded.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1, keepalive_timeout=5,
                                     max_line_size=8190, max_field_size=8190)
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard = ConnectionGuard(self._runner.server, max_connections=self.max_connections,
                                     header_timeout=self.header_timeout)
        self._listener = await asyncio.get_running_loop().create_server(self.guard, self.host, self.port, backlog=128)

    async def stop(self) -> None:
        """Stop listening and close the open connections."""
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- endpoints ------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        """``GET /healthz``: alive and taking calls."""
        # Alive and taking calls (the FastAGI port listens): what a container healthcheck asks, without
        # opening a FastAGI connection it would leave half-written.
        if not self.status.listening():
            return web.json_response({"status": "starting", "agi": "not listening yet"}, status=503)
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """``GET /readyz``: whether every part the line needs is there (503 when not)."""
        ready, checks = await self.status.readiness()
        # "degraded": the IVR takes and routes calls, but a part is away (said in checks.degraded).
        status = "degraded" if ready and checks.get("degraded") else ("ready" if ready else "not ready")
        return web.json_response({"ready": ready, "status": status, "checks": checks}, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        """``GET /metrics``: Prometheus's text format."""
        return web.Response(body=self.status.metrics(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def overview(self, request: web.Request) -> web.Response:
        """``GET /``: the overview (HTML for a browser, JSON otherwise)."""
        ready, checks = await self.status.readiness()
        if not _wants_html(request):
            return web.json_response({"ready": ready, "pages": ["/calls", "/kpis", "/flows", "/queues", "/metrics"]})
        return _html(pages.overview_page(kpis=self.status.kpis(), checks=checks, queues=self.status.queues(),
                                         live=self.status.live_calls(), flows=self.status.flows(), ready=ready,
                                         brand=self.brand))

    async def static(self, request: web.Request) -> web.Response:
        """``GET /static/{name}``: one of the console's own files."""
        name = request.match_info["name"]
        if name not in STATIC_FILES:  # a fixed list: no path from the request reaches the file system
            return web.json_response({"error": "not found"}, status=404)
        path, ctype = STATIC_FILES[name]
        return web.Response(body=path.read_bytes(), content_type=ctype, charset="utf-8")

    async def calls(self, request: web.Request) -> web.Response:
        """``GET /calls``: the calls in progress and the recent ones."""
        live = self.status.live_calls()
        if _wants_html(request):
            return _html(pages.calls_page(live=live, recent=self.status.recent_records(), kpis=self.status.kpis(), brand=self.brand))
        return web.json_response({"active": len(live), "calls": live})

    async def call(self, request: web.Request) -> web.Response:
        """``GET /calls/{call_id}``: one call's record."""
        call_id = request.match_info["call_id"]
        record = self.status.call_record(call_id) if len(call_id) <= 64 else None
        if record is None:
            if _wants_html(request):
                return _html(pages.not_found_page("Cet appel n'est pas parmi les derniers appels terminés gardés.", self.brand),
                             status=404)
            return web.json_response({"error": "no such finished call (only the last ones are kept)"}, status=404)
        record = {**record, "journey": await self.status.journey(record)}
        if _wants_html(request):
            return _html(pages.call_page(record, self.status.kpis(), self.brand))
        return web.json_response(record)

    async def recent(self, request: web.Request) -> web.Response:
        """``GET /calls/recent``: the last records, ``limit`` at most 200."""
        try:
            limit = min(max(int(request.query.get("limit", "50")), 1), 200)
        except ValueError:
            return web.json_response({"error": "limit must be a number"}, status=422)
        records = self.status.recent_records()
        sip_call_id = request.query.get("sip_call_id")
        if sip_call_id:
            records = [r for r in records if r.get("sip_call_id") == sip_call_id]
        return web.json_response({"calls": records[-limit:]})

    async def queues(self, request: web.Request) -> web.Response:
        """``GET /queues``: the queues as Asterisk reports them."""
        return web.json_response(self.status.queues())

    async def flows(self, request: web.Request) -> web.Response:
        """``GET /flows``: the loaded flows, their versions and the serving state."""
        data = self.status.flows()
        if _wants_html(request):
            return _html(pages.flows_page(data, self.status.kpis(), self.brand))
        return web.json_response(data)

    async def flow(self, request: web.Request) -> web.Response:
        """``GET /flows/{name}``: one flow and its drawing."""
        data = self.status.flows()
        flow = next((f for f in data["flows"] if f["name"] == request.match_info["name"]), None)
        if flow is None:
            if _wants_html(request):
                return _html(pages.not_found_page("Aucun parcours de ce nom n'est chargé.", self.brand), status=404)
            return web.json_response({"error": "no such flow"}, status=404)
        if _wants_html(request):
            return _html(pages.flow_page(flow, data, self.status.kpis(), self.brand))
        return web.json_response(flow)

    async def flow_graph(self, request: web.Request) -> web.Response:
        """``GET /flows/{name}/graph``: the flow drawn as SVG, Mermaid or DOT."""
        fmt = request.query.get("format", "svg")
        types = {"mermaid": "text/plain", "dot": "text/plain", "svg": "image/svg+xml"}
        if fmt not in types:
            return web.json_response({"error": "format: mermaid, dot or svg"}, status=422)
        text = await self.status.flow_graph(request.match_info["name"], fmt)
        if text is None:
            return web.json_response({"error": "no such flow"}, status=404)
        return web.Response(text=text, content_type=types[fmt])

    async def reload(self, request: web.Request) -> web.Response:
        """``POST /flows/reload``: check and apply the flow files (a broken file changes nothing)."""
        report = await self.status.reload_flows()
        if _wants_html(request):  # the console's button: back to the page, which shows the outcome
            raise web.HTTPSeeOther("/flows")
        return web.json_response(report, status=200 if report["ok"] else 422)

    async def kpis(self, request: web.Request) -> web.Response:
        """``GET /kpis``: the line's indicators, by window."""
        summary = self.status.kpis()
        if _wants_html(request):
            window = request.query.get("window", "today")
            return _html(pages.kpis_page(summary, window if window in WINDOWS else "today", self.brand,
                                         days=self.status.days()))
        return web.json_response(summary)

    async def days(self, request: web.Request) -> web.Response:
        """``GET /kpis/days``: the main figures of the last 7 days, a row a day; ``?format=csv`` for the
        agency's reporting (a file to download)."""
        rows = self.status.days()
        if request.query.get("format") == "csv":
            return web.Response(text=days_csv(rows), content_type="text/csv", charset="utf-8",
                                headers={"Content-Disposition": "attachment; filename=\"indicateurs-3400.csv\""})
        return web.json_response({"days": [asdict(row) for row in rows]})

    async def notices(self, request: web.Request, error: str = "") -> web.Response:
        """``GET /notices``: the closure notices, the live one, who switched each on and off."""
        data = await self.status.notices()
        if _wants_html(request):
            return _html(pages.notices_page(data["notices"], data["live"], self.status.kpis(), error=error,
                                            brand=self.brand), status=422 if error else 200)
        return web.json_response(data)

    async def add_notice(self, request: web.Request) -> web.Response:
        """``POST /notices`` (a form, or JSON: text, starts_at, ends_at, closes, by): switch a notice on."""
        form = await _fields(request)
        done = await self.status.add_notice(str(form.get("text", "")), str(form.get("starts_at", "")),
                                            str(form.get("ends_at", "")), form.get("closes") in (True, "1", "on", "true"),
                                            str(form.get("by", "")))
        if _wants_html(request):
            if "error" in done:
                return await self.notices(request, error=done["error"])
            raise web.HTTPSeeOther("/notices")
        return web.json_response(done, status=422 if "error" in done else 201)

    async def end_notice(self, request: web.Request) -> web.Response:
        """``POST /notices/{id}/end`` (``by``): switch a notice off."""
        form = await _fields(request)
        done = await self.status.end_notice(int(request.match_info["id"]), str(form.get("by", "")))
        if _wants_html(request):
            if "error" in done:
                return await self.notices(request, error=done["error"])
            raise web.HTTPSeeOther("/notices")
        return web.json_response(done, status=200 if done.get("ok") else 422)


async def _fields(request: web.Request) -> dict[str, Any]:
    """A request's fields, from a JSON body or a form."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return dict(await request.post())
