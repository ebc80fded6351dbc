"""The admin HTTP server (aiohttp): health, readiness, metrics, live calls, flows, KPIs.

JSON for machines; ``/calls``, ``/flows`` and ``/kpis`` also answer a small
HTML page to a browser. Every endpoint but ``/healthz`` needs the admin token
(``Authorization: Bearer …``) when one is set; binding beyond loopback without
a token is refused.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import ipaddress
import time
from typing import TYPE_CHECKING

import aiohttp
from aiohttp import web

if TYPE_CHECKING:  # the app module imports us; only for type hints
    from ..app import IvrServer

__all__ = ["AdminServer", "AdminConfigError"]

SERVER = web.AppKey("server", object)


class AdminConfigError(RuntimeError):
    pass


def _is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    def __init__(self, server: "IvrServer", host: str, port: int, token: str = "") -> None:
        if not token and not _is_loopback(host):
            raise AdminConfigError(
                f"the admin HTTP server would listen on {host} without a token: set IVR_ADMIN_TOKEN")
        self.server = server
        self.host = host
        self.port = port
        self.token = token
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    @property
    def bound_port(self) -> int:
        assert self._site is not None
        return self._site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app[SERVER] = self.server
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

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port)
        await self._site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if self.token and request.path != "/healthz":
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or \
                request.query.get("token", "")
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return web.json_response({"error": "admin token required"}, status=401)
        return await handler(request)

    # -- endpoints ------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        srv = self.server
        checks: dict[str, object] = {}
        checks["agi"] = "listening" if srv._listening else "stopped"
        checks["flows"] = sorted(srv.flows.versions) or "none loaded"
        if srv.ami is None:
            checks["ami"] = "not configured: routing from the rules alone (no live queue state, no callbacks)"
        else:
            checks["ami"] = srv.ami.state
        checks["tracking"] = await self._tracking_state()
        checks["speech"] = ("vosk model loaded" if srv.speech_model is not None else
                            "no model: questions use the keypad")
        ready = srv._listening and bool(srv.flows.versions)
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _tracking_state(self) -> str:
        client = self.server.tracking
        if client.breaker.state == "open":
            return "unavailable (circuit open)"
        try:
            async with client._http().get(f"{client.base_url}/healthz",
                                          timeout=aiohttp.ClientTimeout(total=1)) as resp:
                return "ok" if resp.status == 200 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return f"unavailable ({type(exc).__name__})"

    async def metrics(self, request: web.Request) -> web.Response:
        srv = self.server
        m = srv.metrics
        m.ami_connected.set(1 if srv.ami is not None and srv.ami.connected else 0)
        if srv.ami is not None:
            for name, q in srv.ami.board.queues.items():
                m.queue_wait.labels(name).set(q.expected_wait())
        return web.Response(body=m.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type": "text/plain; version=0.0.4"})

    def _live(self) -> list[dict]:
        now = time.monotonic()
        return [{"call_id": c.call_id, "flow": c.record.flow, "node": c.current_node,
                 "seconds": round(now - c.started_monotonic, 1), "caller": c.record.caller,
                 "slots": dict(c.record.slots)} for c in self.server.handler.live.values()]

    async def calls(self, request: web.Request) -> web.Response:
        live = self._live()
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
        records = list(self.server.kpis.recent)
        sip_call_id = request.query.get("sip_call_id")
        if sip_call_id:
            records = [r for r in records if r.get("sip_call_id") == sip_call_id]
        return web.json_response({"calls": records[-limit:]})

    async def flows(self, request: web.Request) -> web.Response:
        srv = self.server
        loaded = srv.flows.loaded()
        report = srv.flows.last_report
        data = {
            "flows": [{"name": n, "version": f.version, "path": str(f.path), "nodes": len(f.model.nodes),
                       "graph": f"/flows/{n}/graph"} for n, f in sorted(loaded.items())],
            "last_reload": {"applied": report.applied, "unchanged": report.unchanged, "errors": report.errors},
        }
        if _wants_html(request):
            rows = [[f["name"], f["version"], f["nodes"], f["path"]] for f in data["flows"]]
            errors = "".join(f"<li><code>{html.escape(e)}</code></li>" for e in report.errors)
            body = _table(["parcours", "version", "nœuds", "fichier"], rows)
            body += f"<h2>Dernier rechargement</h2><ul>{errors or '<li>aucune erreur</li>'}</ul>"
            body += "<form method='post' action='/flows/reload'><button>Recharger</button></form>"
            return _page("Parcours", body)
        return web.json_response(data)

    async def flow_graph(self, request: web.Request) -> web.Response:
        from ..engine.graph import to_dot, to_mermaid, to_svg

        flow = self.server.flows.loaded().get(request.match_info["name"])
        if flow is None:
            return web.json_response({"error": "no such flow"}, status=404)
        fmt = request.query.get("format", "svg")
        renderers = {"mermaid": (to_mermaid, "text/plain"), "dot": (to_dot, "text/plain"),
                     "svg": (to_svg, "image/svg+xml")}
        if fmt not in renderers:
            return web.json_response({"error": "format: mermaid, dot or svg"}, status=422)
        render, ctype = renderers[fmt]
        return web.Response(text=render(flow.model), content_type=ctype)

    async def reload(self, request: web.Request) -> web.Response:
        report = self.server.reload_flows()
        body = {"ok": report.ok, "applied": report.applied, "unchanged": report.unchanged, "errors": report.errors}
        return web.json_response(body, status=200 if report.ok else 422)

    async def kpis(self, request: web.Request) -> web.Response:
        summary = self.server.kpis.summary()
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
