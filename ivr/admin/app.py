"""The admin HTTP server (aiohttp): health, readiness, metrics, and the operators' console.

JSON for machines; ``/``, ``/calls``, ``/calls/{id}``, ``/kpis``, ``/flows`` and ``/flows/{name}``
answer the console's HTML pages to a browser (``ivr.admin.pages``), with ``/static`` for its style
sheet and script. Every endpoint but ``/healthz`` and ``/static`` needs the admin token
(``Authorization: Bearer …``) when one is set; binding beyond loopback without a token is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..versions.model import AuditAction, Role
from . import line_pages, pages
from .answers import fields, html, wants_html
from .daily import days_csv
from .guard import ConnectionGuard, add_security_headers, allowed_hosts, log, loopback_host, security_middleware
from .kpis import WINDOWS
from .line_routes import PRINCIPAL, LineRoutes, actor_of, origin_of, principal_of
from .signin import COOKIE, CSRF_FIELD, Accounts, Principal, SignIn
from .status import LineDesk, ServerStatus

__all__ = ["AdminServer", "AdminConfigError"]

_STATIC = Path(__file__).resolve().parent / "static"
#: The console's own files, served by name only.
STATIC_FILES = {"console.css": (_STATIC / "console.css", "text/css"),
                "console.js": (_STATIC / "console.js", "text/javascript"),
                "favicon.svg": (_STATIC / "favicon.svg", "image/svg+xml")}


class AdminConfigError(RuntimeError):
    """The console cannot start as configured (e.g. no token on a non-loopback address)."""


class AdminServer:
    """Admin HTTP over a :class:`~ivr.admin.status.ServerStatus`."""

    def __init__(self, status: ServerStatus, host: str, port: int, token: str = "", *,
                 hosts: Iterable[str] = (), max_connections: int = 64, header_timeout: float = 5.0,
                 brand: str = pages.BRAND, accounts: Accounts | None = None, desk: LineDesk | None = None,
                 session_seconds: float = 8 * 3600.0) -> None:
        if not token and not loopback_host(host):
            raise AdminConfigError(
                f"the admin HTTP server would listen on {host} without a token: set IVR_ADMIN_TOKEN")
        self.status = status
        #: Who is asking (the token, sessions, roles) and the versions' and drafts' desk.
        self.signin = SignIn(accounts, token, session_seconds=session_seconds)
        self.desk = desk
        #: The role each route needs (None: public).
        self._needed: dict[object, Role | None] = {}
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
        """The aiohttp application: every route with the role it needs, behind the security and access
        middlewares."""
        # A draft's files are each at most 1 MB (the checker's own limit): room for three, form-encoded.
        app = web.Application(middlewares=[security_middleware(self.hosts, self._request_started), self._access],
                              client_max_size=4 * 1024 * 1024)
        app.on_response_prepare.append(add_security_headers)
        viewer, publisher = Role.VIEWER, Role.PUBLISHER
        for method, path, handler, needed in (
                ("GET", "/healthz", self.healthz, None), ("GET", "/static/{name}", self.static, None),
                ("GET", "/login", self.login_form, None), ("POST", "/login", self.login, None),
                ("POST", "/logout", self.logout, viewer),
                ("GET", "/", self.overview, viewer), ("GET", "/readyz", self.readyz, viewer),
                ("GET", "/metrics", self.metrics, viewer), ("GET", "/calls", self.calls, viewer),
                ("GET", "/calls/recent", self.recent, viewer), ("GET", "/calls/{call_id}", self.call, viewer),
                ("GET", "/queues", self.queues, viewer), ("GET", "/flows", self.flows, viewer),
                ("GET", "/flows/{name}", self.flow, viewer), ("GET", "/flows/{name}/graph", self.flow_graph, viewer),
                ("POST", "/flows/reload", self.reload, publisher), ("GET", "/kpis", self.kpis, viewer),
                ("GET", "/kpis/days", self.days, viewer), ("GET", "/notices", self.notices, viewer),
                ("POST", "/notices", self.add_notice, publisher),
                ("POST", "/notices/{id:[0-9]+}/end", self.end_notice, publisher),
                *(LineRoutes(self.desk, self.status, self.brand, self._refused).routes() if self.desk is not None else ())):
            route = app.router.add_route(method, path, handler)
            self._needed[route] = needed
        return app

    @web.middleware
    async def _access(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Who is asking, and whether their role allows this route (see :mod:`ivr.admin.signin`); a
        request made with a session cookie that changes something must carry the session's form token."""
        needed = self._needed.get(request.match_info.route, Role.VIEWER)
        if needed is None:
            return await handler(request)
        raw = request.headers.get("Authorization")
        try:
            bearer = raw.encode("utf-8", "surrogateescape") if raw is not None else None
        except UnicodeError:
            bearer = b""
        principal = await self.signin.who(bearer, request.cookies.get(COOKIE))
        if principal is None:
            if wants_html(request) and request.method == "GET":
                raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
            return web.json_response({"error": "sign in, or the admin token (Authorization: Bearer …), required"},
                                     status=401)
        if not principal.may(needed):
            await self._refused(principal, request, needed)
            if wants_html(request):
                return html(line_pages.forbidden_page(principal.role.value, needed.value, self.brand), status=403)
            return web.json_response({"error": f"role {principal.role.value} may not do this ({needed.value} needed)"},
                                     status=403)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            given = request.headers.get("X-CSRF-Token")
            if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                given = str((await request.post()).get(CSRF_FIELD, ""))
            if not SignIn.form_ok(principal, given):
                return web.json_response({"error": "the form's token is missing or wrong: reload the page"}, status=403)
        request[PRINCIPAL] = principal
        response = await handler(request)
        if isinstance(response, web.Response) and response.content_type == "text/html" and response.text is not None:
            # Every form of the console's pages carries the session's form token; without a session
            # (the token, the open local console) there is nothing to sign out of.
            response.text = (_with_form_token(response.text, principal.csrf) if principal.csrf
                             else response.text.replace(pages.LOGOUT, ""))
        return response

    async def _refused(self, principal: Principal, request: web.Request, needed: Role) -> None:
        """Keep in the audit trail a change someone's role does not allow (reading is not kept)."""
        if request.method in ("GET", "HEAD", "OPTIONS") or self.signin.accounts is None:
            return
        try:
            await self.signin.accounts.add_audit(principal.name, AuditAction.FORBIDDEN, request.path[:200],
                                                 _origin(request), {"role": principal.role.value, "needed": needed.value})
        except Exception as exc:  # the store away: the refusal stands, its trace is lost (and logged)
            log.warning("audit_not_kept", action=AuditAction.FORBIDDEN.value, error=type(exc).__name__)

    async def login_form(self, request: web.Request) -> web.Response:
        """``GET /login``: the sign-in form."""
        return html(line_pages.login_page(next_path=_safe_next(request.query.get("next", "/")), brand=self.brand))

    async def login(self, request: web.Request) -> web.Response:
        """``POST /login`` (name, password, next): a session cookie and back to ``next``; the form again
        with the same message for a wrong name, a wrong password or a locked account."""
        form = await fields(request)
        name, password = str(form.get("name", ""))[:64], str(form.get("password", ""))[:256]
        principal = await self.signin.sign_in(name, password, _origin(request))
        next_path = _safe_next(str(form.get("next", "/")))
        if principal is None:
            page = line_pages.login_page(next_path=next_path, brand=self.brand,
                                         error="Identifiant ou mot de passe incorrect (ou compte verrouillé).")
            return html(page, status=401)
        response = web.HTTPSeeOther(next_path)
        assert principal.session_id is not None
        response.set_cookie(COOKIE, principal.session_id, httponly=True, samesite="Strict", path="/",
                            max_age=int(self.signin.session_seconds), secure=_https(request))
        raise response

    async def logout(self, request: web.Request) -> web.Response:
        """``POST /logout``: end the session."""
        await self.signin.sign_out(principal_of(request), _origin(request))
        response = web.HTTPSeeOther("/login")
        response.del_cookie(COOKIE, path="/")
        raise response

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
        if not wants_html(request):
            return web.json_response({"ready": ready, "pages": ["/calls", "/kpis", "/flows", "/queues", "/metrics"]})
        return html(pages.overview_page(kpis=self.status.kpis(), checks=checks, queues=self.status.queues(),
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
        if wants_html(request):
            return html(pages.calls_page(live=live, recent=self.status.recent_records(), kpis=self.status.kpis(), brand=self.brand))
        return web.json_response({"active": len(live), "calls": live})

    async def call(self, request: web.Request) -> web.Response:
        """``GET /calls/{call_id}``: one call's record."""
        call_id = request.match_info["call_id"]
        record = self.status.call_record(call_id) if len(call_id) <= 64 else None
        if record is None:
            if wants_html(request):
                return html(pages.not_found_page("Cet appel n'est pas parmi les derniers appels terminés gardés.", self.brand),
                             status=404)
            return web.json_response({"error": "no such finished call (only the last ones are kept)"}, status=404)
        record = {**record, "journey": await self.status.journey(record)}
        if wants_html(request):
            return html(pages.call_page(record, self.status.kpis(), self.brand))
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
        if wants_html(request):
            return html(pages.flows_page(data, self.status.kpis(), self.brand))
        return web.json_response(data)

    async def flow(self, request: web.Request) -> web.Response:
        """``GET /flows/{name}``: one flow and its drawing."""
        data = self.status.flows()
        flow = next((f for f in data["flows"] if f["name"] == request.match_info["name"]), None)
        if flow is None:
            if wants_html(request):
                return html(pages.not_found_page("Aucun parcours de ce nom n'est chargé.", self.brand), status=404)
            return web.json_response({"error": "no such flow"}, status=404)
        if wants_html(request):
            return html(pages.flow_page(flow, data, self.status.kpis(), self.brand))
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
        form = await fields(request)
        report = await self.status.reload_flows(actor_of(request, form.get("by")), _origin(request))
        if wants_html(request):  # the console's button: back to the page, which shows the outcome
            raise web.HTTPSeeOther("/flows")
        return web.json_response(report, status=200 if report["ok"] else 422)

    async def kpis(self, request: web.Request) -> web.Response:
        """``GET /kpis``: the line's indicators, by window."""
        summary = self.status.kpis()
        if wants_html(request):
            window = request.query.get("window", "today")
            return html(pages.kpis_page(summary, window if window in WINDOWS else "today", self.brand,
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
        if wants_html(request):
            return html(pages.notices_page(data["notices"], data["live"], self.status.kpis(), error=error,
                                            brand=self.brand), status=422 if error else 200)
        return web.json_response(data)

    async def add_notice(self, request: web.Request) -> web.Response:
        """``POST /notices`` (a form, or JSON: text, starts_at, ends_at, closes, by): switch a notice on."""
        form = await fields(request)
        done = await self.status.add_notice(str(form.get("text", "")), str(form.get("starts_at", "")),
                                            str(form.get("ends_at", "")), form.get("closes") in (True, "1", "on", "true"),
                                            _by(request, form), origin=_origin(request))
        if wants_html(request):
            if "error" in done:
                return await self.notices(request, error=done["error"])
            raise web.HTTPSeeOther("/notices")
        return web.json_response(done, status=422 if "error" in done else 201)

    async def end_notice(self, request: web.Request) -> web.Response:
        """``POST /notices/{id}/end`` (``by``): switch a notice off."""
        form = await fields(request)
        done = await self.status.end_notice(int(request.match_info["id"]), _by(request, form), origin=_origin(request))
        if wants_html(request):
            if "error" in done:
                return await self.notices(request, error=done["error"])
            raise web.HTTPSeeOther("/notices")
        return web.json_response(done, status=200 if done.get("ok") else 422)



def _with_form_token(page: str, token: str) -> str:
    """``page`` with the session's form token in each of its forms that post (they are all written
    ``<form method='post'``)."""
    field = f"<input type='hidden' name='{CSRF_FIELD}' value='{token}'>"
    out, rest = [], page
    while (at := rest.find("<form method='post'")) >= 0:
        end = rest.index(">", at) + 1
        out.append(rest[:end] + field)
        rest = rest[end:]
    return "".join(out) + rest


def _safe_next(path: str) -> str:
    """Where to go after signing in: a path of this console only (never another site)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path and len(path) < 512 else "/"


def _https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def _origin(request: web.Request) -> str:
    return origin_of(request)


def _by(request: web.Request, form: dict[str, Any]) -> str:
    """Who switches a notice on or off: the signed-in user; else the name the form gives (required then)."""
    principal = principal_of(request)
    return principal.name if principal.via == "session" else str(form.get("by", ""))
