"""Listens to Asterisk's AMI events (with the product's manager user) and keeps them with their arrival time."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from panoramisk import Manager

from ivr.waiting import DEADLINE, until

__all__ = ["AmiWatch"]


class AmiWatch:
    """``async with AmiWatch(port, user, secret) as ami:`` then ``ami.events(...)`` / ``await ami.wait_for(...)``."""

    def __init__(self, port: int, user: str, secret: str, host: str = "127.0.0.1") -> None:
        self.manager = Manager(host=host, port=port, username=user, secret=secret, ping_delay=0,
                               reconnect_timeout=60)
        #: (time.monotonic(), event) in arrival order; bounded.
        self.seen: deque[tuple[float, dict]] = deque(maxlen=200_000)
        self.manager.register_event("*", self._on_event)

    def _on_event(self, manager, event) -> None:
        self.seen.append((time.monotonic(), dict(event)))

    async def __aenter__(self) -> "AmiWatch":
        await asyncio.wait_for(self.manager.connect(), DEADLINE)
        return self

    async def __aexit__(self, *exc) -> None:
        self.manager.close()

    def events(self, name: str, **match: str) -> list[tuple[float, dict]]:
        """Events called ``name`` whose fields equal ``match`` (a value ending in ``*`` matches a prefix)."""
        def fits(value: object, wanted: str) -> bool:
            wanted = str(wanted)
            return str(value).startswith(wanted[:-1]) if wanted.endswith("*") else str(value) == wanted

        return [(t, e) for t, e in self.seen
                if e.get("Event") == name and all(fits(e.get(k), v) for k, v in match.items())]

    async def wait_for(self, name: str, timeout: float = DEADLINE, **match: str) -> tuple[float, dict]:
        """The first ``name`` event matching ``match`` (already seen, or when it comes)."""
        found = await until(lambda: self.events(name, **match), f"an AMI {name} event matching {match}",
                            timeout=timeout, interval=0.1)
        return found[0]

    async def action(self, fields: dict, timeout: float = DEADLINE):
        return await asyncio.wait_for(self.manager.send_action(fields), timeout)

    def release_seconds(self, uniqueid: str) -> float | None:
        """From the caller's hang-up request to the channel being gone (Asterisk keeps it until the IVR
        closes the AGI socket): how fast the IVR let go of a call whose caller left."""
        asked = [t for t, e in self.seen if e.get("Uniqueid") == uniqueid
                 and e.get("Event") in ("HangupRequest", "SoftHangupRequest")]
        gone = [t for t, e in self.seen if e.get("Uniqueid") == uniqueid and e.get("Event") == "Hangup"]
        if not asked or not gone:
            return None
        return gone[0] - asked[0]
