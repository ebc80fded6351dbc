"""What stands between the network and the admin pages: connection limits, and who may ask what.

- At most ``max_connections`` connections; a connection that has not sent a whole request header
  within ``header_timeout`` is closed (a thousand half-sent requests cost a thousand descriptors).
- ``Host`` must be one the server answers to: a page on another site cannot reach the admin through
  DNS rebinding (a name that resolves to 127.0.0.1).
- A request that changes something (POST) coming from a page on another origin is refused (CSRF: a
  form on any web site could otherwise reload the flows through the operator's browser).
- Who may ask what (the token, sessions, roles) is :mod:`ivr.admin.signin`'s; the token only in
  ``Authorization: Bearer …`` (never in a URL, where it ends up in logs and histories).
- Security headers on every answer.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web
from typing_extensions import override

__all__ = ["ConnectionGuard", "security_middleware", "add_security_headers", "allowed_hosts", "SECURITY_HEADERS",
           "loopback_host"]

log = structlog.get_logger("ivr.admin")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # No address leaves for another site; same-origin requests keep theirs, so a browser's form posts
    # carry a real ``Origin`` (under no-referrer, Chromium sends ``Origin: null``).
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    # The console loads only its own style sheet and script, and its script only fetches JSON from
    # the same server: no inline code, no other origin.
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """``[::1]:8080`` → ``::1``; ``ivr:8080`` → ``ivr``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed_hosts(bind: str, token: str, configured: Iterable[str]) -> set[str] | None:
    """The ``Host`` names the admin answers to; None: any (a token guards every page but /healthz).

    Without a token the admin listens on loopback only, and only loopback names reach it: a web page
    cannot aim a rebinding DNS name at it.
    """
    names = {h.strip().lower() for h in configured if h.strip()}
    if token and not names:
        return None
    names |= _LOOPBACK_NAMES
    if bind not in ("", "0.0.0.0", "::"):
        names.add(bind.lower())
    return names


def security_middleware(hosts: set[str] | None,
                        on_request: Callable[[Any], None]) -> Callable[..., Awaitable[web.StreamResponse]]:
    """The admin's checks, in order: Host, origin of state-changing requests (then the handler, whose
    failures give a short 500).

    ``on_request(transport)`` is told that a whole request header arrived on that connection.
    """

    @web.middleware
    async def check(request: web.Request,
                    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        on_request(request.transport)
        host = _hostname(request.headers.get("Host", ""))
        if hosts is not None and host not in hosts:
            return web.json_response({"error": "unknown host"}, status=421)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            site = request.headers.get("Sec-Fetch-Site", "")
            # ``Origin: null`` (a privacy-minded browser) proves nothing: only with Sec-Fetch-Site: same-origin.
            unknown = origin == "null" and site != "same-origin"
            if site not in ("", "same-origin", "none") or unknown or (
                origin not in (None, "null") and urlsplit(origin).netloc.lower() != request.headers.get("Host", "").lower()
            ):
                return web.json_response({"error": "cross-site request refused"}, status=403)
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception:  # the caller gets a short answer; the log gets the details once
            log.exception("admin_request_failed", path=request.path)
            return web.json_response({"error": "internal error"}, status=500)

    return check


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the console's security headers to every response that does not set its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


class ConnectionGuard:
    """A protocol factory around aiohttp's: caps connections, closes those slow to send a request."""

    def __init__(self, inner: Callable[[], asyncio.Protocol], *, max_connections: int = 64,
                 header_timeout: float = 5.0) -> None:
        self.inner = inner
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self.open = 0
        self.refused = 0
        #: Connections on which a request has started (its headers were complete).
        self.started: set[Any] = set()

    def __call__(self) -> asyncio.Protocol:
        """A protocol for one more connection (a refusing one past the cap)."""
        if self.open >= self.max_connections:
            self.refused += 1
            return _Refused()
        return _Guarded(self, self.inner())

    def mark_started(self, transport: Any) -> None:
        """Note that a connection has sent its first request (it is no longer idle)."""
        self.started.add(transport)


class _Refused(asyncio.Protocol):
    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.abort()  # type: ignore[attr-defined]


class _Guarded(asyncio.Protocol):
    """Delegates to aiohttp's request handler; counts the connection and times its first request."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: Any = None
        self.timer: asyncio.TimerHandle | None = None

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.guard.open += 1
        self.transport = transport
        self.timer = asyncio.get_running_loop().call_later(self.guard.header_timeout, self._expire)
        self.inner.connection_made(transport)

    def _expire(self) -> None:
        if self.transport is not None and self.transport not in self.guard.started:
            self.transport.abort()

    @override
    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    @override
    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    @override
    def pause_writing(self) -> None:
        self.inner.pause_writing()

    @override
    def resume_writing(self) -> None:
        self.inner.resume_writing()

    @override
    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.open -= 1
        if self.timer is not None:
            self.timer.cancel()
        self.guard.started.discard(self.transport)
        self.inner.connection_lost(exc)
