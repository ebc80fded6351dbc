"""What the process may open, and who may connect: descriptor budget, peer allow-lists, accept errors.

One peer must not be able to take every file descriptor (calls would then fail for everybody), and
nobody but the Asterisk hosts may open a FastAGI or AudioSocket session.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
import time
from dataclasses import dataclass
from typing import Any

import structlog

__all__ = ["PeerAllowList", "Caps", "raise_descriptor_limit", "connection_caps", "quiet_accept_errors"]

log = structlog.get_logger("ivr.resources")


class PeerAllowList:
    """Addresses allowed to connect, as CIDR networks (``127.0.0.0/8,::1/128,172.28.34.0/24``)."""

    def __init__(self, spec: str) -> None:
        try:
            self.networks = [ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip()]
        except ValueError as exc:
            raise ValueError(f"peer allow-list {spec!r}: {exc}") from None

    def __call__(self, address: str) -> bool:
        """Whether ``address`` may connect."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self.networks)


def raise_descriptor_limit() -> int:
    """Raise the soft limit on open files to the hard limit (systemd starts services at 1024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:
            log.warning("descriptor_limit_not_raised", soft=soft, hard=hard, error=str(exc))
    return soft


@dataclass(frozen=True)
class Caps:
    """How many connections of each kind the server takes at once."""

    agi: int
    audiosocket: int
    admin: int


def connection_caps(limit: int, agi: int, audiosocket: int, admin: int) -> Caps:
    """The connection caps that fit in ``limit`` descriptors, 200 kept for everything else (the
    tracking client's pool, the store, AMI, logs, the model): the configured caps, shrunk in
    proportion when they do not fit."""
    budget = max(limit - 200, 30)
    wanted = agi + audiosocket + admin
    if wanted <= budget:
        return Caps(agi, audiosocket, admin)
    scale = budget / wanted
    caps = Caps(max(int(agi * scale), 10), max(int(audiosocket * scale), 10), max(int(admin * scale), 5))
    log.warning("connection_caps_reduced", descriptor_limit=limit, agi=caps.agi, audiosocket=caps.audiosocket,
                admin=caps.admin)
    return caps


def quiet_accept_errors(loop: asyncio.AbstractEventLoop, every: float = 10.0) -> None:
    """asyncio logs a traceback each time accept() fails for lack of descriptors (many per second
    under an attack): keep one line per ``every`` seconds, with the count."""
    state = {"last": 0.0, "count": 0}
    default = loop.get_exception_handler()

    def handler(loop_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if not message.startswith("socket.accept() out of system resource"):
            if default is not None:
                default(loop_, context)
            else:
                loop_.default_exception_handler(context)
            return
        state["count"] += 1
        now = time.monotonic()
        if now - state["last"] >= every:
            state["last"] = now
            log.error("accept_failed", error=str(context.get("exception")), times=state["count"])

    loop.set_exception_handler(handler)
