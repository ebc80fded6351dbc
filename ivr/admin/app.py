"""The admin HTTP server (aiohttp): health, readiness, metrics, live calls, flows, KPIs.

JSON for machines; ``/calls``, ``/flows`` and ``/kpis`` also answer a small
HTML page to a browser. Every endpoint but ``/healthz`` needs the admin token
(``Authorization: Bearer …``) when one is set; binding beyond loopback without
a token is refused.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterable

from aiohttp import web

from .guard import ConnectionGuard, add_security_headers, allowed_hosts, loopback_host, security_middleware
from .status import ServerStatus

__all__ = ["AdminServer", "AdminConfigError"]


class AdminConfigError(RuntimeError):
    pass


def _wants_html(request: web.Request) -> bool:
    return "text/html" in request.headers.get("Accept", "") and request.query.get("format") != "json"


def _page(title: str, body: str) -> web.Response:
    doc = (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
           "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head>"
           f"<body><h1>{html.escape(title)}</h1>{body}"
           "<p><a href='/calls'>Appels en cours</a> · <a href='/kpis'>Indicateurs</a> · "
           "<a href='/flows'>Parcours</a> · <a href='/metrics'>Métriques</a></p></body></html>")
    return web.Response(text=doc, content_type="text/html")


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


class AdminServer:
    """Admin HTTP over a :class:`~ivr.admin.status.ServerStatus`."""

    def __init__(self, status: ServerStatus, host: str, port: int, token: str = "", *,
                 hosts: Iterable[str] = (), max_connections: int = 64, header_timeout: float = 5.0) -> None:
        if not token and not loopback_host(host):
            raise AdminConfigError(
                f"the admin HTTP server would listen on {host} without a token: set IVR_ADMIN_TOKEN")
        self.status = status
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
        assert self._listener is not None
        return self._listener.sockets[0].getsockname()[1]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[security_middleware(self.token, self.hosts, self._request_started)],
                              client_max_size=64 * 1024)
        app.on_response_prepare.append(add_security_headers)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/calls", self.calls)
        app.router.add_get("/calls/recent", self.recent)
        app.router.add_get("/flows", self.flows)
        app.router.add_get("/flows/{name}/graph", self.flow_graph)
        app.router.add_post("/flows/reload", self.reload)
        app.router.add_get("/kpis", self.kpis)
        return app

    def _request_started(self, transport: object) -> None:
        if self.guard is not None:
            self.guard.mark_started(transport)

    async def start(self) -> None:
        # Idle keep-alive connections close after 5 s; header lines and fields are bounded.
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1, keepalive_timeout=5,
                                     max_line_size=8190, max_field_size=8190)
        await self._runner.setup()
        assert self._runner.server is not None
        self.guard = ConnectionGuard(self._runner.server, max_connections=self.max_connections,
                                     header_timeout=self.header_timeout)
        self._listener = await asyncio.get_running_loop().create_server(self.guard, self.host, self.port, backlog=128)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- endpoints ------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        ready, checks = await self.status.readiness()
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.status.metrics(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    async def calls(self, request: web.Request) -> web.Response:
        live = self.status.live_calls()
        if _wants_html(request):
            rows = [[c["call_id"], c["node"], c["seconds"], c["caller"], c["slots"]] for c in live]
            return _page(f"Appels en cours ({len(live)})", _table(["appel", "étape", "durée (s)", "appelant",
                                                                     "informations"], rows))
        return web.json_response({"active": len(live), "calls": live})

    async def recent(self, request: web.Request) -> web.Response:
        try:
            limit = min(max(int(request.query.get("limit", "50")), 1), 200)
        except ValueError:
            return web.json_response({"error": "limit must be a number"}, status=422)
        records = self.status.recent_records()
        sip_call_id = request.query.get("sip_call_id")
        if sip_call_id:
            records = [r for r in records if r.get("sip_call_id") == sip_call_id]
        return web.json_response({"calls": records[-limit:]})

    async def flows(self, request: web.Request) -> web.Response:
        data = self.status.flows()
        if _wants_html(request):
            rows = [[f["name"], f["version"], f["nodes"], f["path"]] for f in data["flows"]]
            errors = "".join(f"<li><code>{html.escape(e)}</code></li>" for e in data["line"]["rejected"])
            body = _table(["parcours", "version", "nœuds", "fichier"], rows)
            body += f"<h2>Dernier rechargement</h2><ul>{errors or '<li>aucune erreur</li>'}</ul>"
            body += "<form method='post' action='/flows/reload'><button>Recharger</button></form>"
            return _page("Parcours", body)
        return web.json_response(data)

    async def flow_graph(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format", "svg")
        types = {"mermaid": "text/plain", "dot": "text/plain", "svg": "image/svg+xml"}
        if fmt not in types:
            return web.json_response({"error": "format: mermaid, dot or svg"}, status=422)
        text = self.status.flow_graph(request.match_info["name"], fmt)
        if text is None:
            return web.json_response({"error": "no such flow"}, status=404)
        return web.Response(text=text, content_type=types[fmt])

    async def reload(self, request: web.Request) -> web.Response:
        report = await self.status.reload_flows()
        return web.json_response(report, status=200 if report["ok"] else 422)

    async def kpis(self, request: web.Request) -> web.Response:
        summary = self.status.kpis()
        if _wants_html(request):
            c = summary["containment"]
            body = (f"<p>Appels : {summary['calls']} — traités sans conseiller : "
                    f"{'—' if c is None else f'{c * 100:.1f} %'}</p>")
            body += "<h2>Issues</h2>" + _table(["issue", "appels"], sorted(summary["outcomes"].items()))
            body += "<h2>Transferts</h2>" + _table(["file", "motif", "appels"],
                                                   [[t["queue"], t["reason"], t["calls"]] for t in summary["transfers"]])
            body += "<h2>Raccrochés (étape)</h2>" + _table(["étape", "appels"],
                                                            sorted(summary["abandon_points"].items()))
            return _page("Indicateurs", body)
        return web.json_response(summary)
