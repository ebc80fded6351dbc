"""Checks of the command line's addresses, so a bad one is a one-line usage error, not a traceback."""

from __future__ import annotations

import asyncio
import ipaddress
import re
from urllib.parse import urlsplit

import typer

__all__ = ["host_port", "http_url", "reachable"]

_HOST = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def host_port(text: str, option: str, *, default_port: int | None = None) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) as (host, port); ``default_port`` allows ``HOST`` alone."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or (host.count(":") and not host.startswith("[")):
        if default_port is None:
            raise typer.BadParameter(f"expected HOST:PORT, got {text!r}", param_hint=option)
        host, port_text = text.strip(), str(default_port)
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise typer.BadParameter(f"the port of {text!r} must be a number from 1 to 65535", param_hint=option)
    if not _valid_host(host):
        raise typer.BadParameter(f"{host!r} is not a host name or an IP address", param_hint=option)
    return host, int(port_text)


def http_url(text: str, option: str) -> str:
    """An ``http(s)://host[:port]`` address, without a trailing slash."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or not _valid_host(parts.hostname):
        raise typer.BadParameter(f"expected an address like http://127.0.0.1:8080, got {text!r}", param_hint=option)
    try:
        parts.port  # noqa: B018 (raises on a port out of range)
    except ValueError:
        raise typer.BadParameter(f"the port of {text!r} must be a number from 1 to 65535", param_hint=option) from None
    return text.strip().rstrip("/")


async def reachable(host: str, port: int, timeout: float = 3.0) -> str | None:
    """None when something accepts TCP connections at host:port, else why not (one line)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return f"no answer from {host}:{port} within {timeout:g} s"
    except OSError as exc:
        return f"cannot connect to {host}:{port}: {exc.strerror or exc}"
    writer.close()
    return None


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return bool(_HOST.match(host))
