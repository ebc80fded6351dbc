"""Keeping calls where a test needs them, for as long as it needs, on a machine of any speed.

Two holds, both released by the test, never by a timer:

- :class:`~ivr.sim.gate.PromptGate` (the simulated Asterisk answers the command playing a prompt
  only once released): a call stays in the node that plays it;
- :func:`lookups_held` (the tracking stub answers no lookup until released): a call reaching its
  lookup waits there, as long as the IVR's own timeout lets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import aiohttp

from ivr.waiting import until

__all__ = ["StubHold", "lookups_held", "live_nodes"]


class StubHold:
    """The tracking stub at ``url`` holding every file request (``PUT /v1/_faults {"hold": …}``)."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self._http = http

    async def _faults(self, **change: bool) -> dict:
        method = self._http.put if change else self._http.get
        async with method(f"{self.url}/v1/_faults", json=change or None) as resp:
            resp.raise_for_status()
            return await resp.json()

    async def held(self) -> int:
        """Lookups waiting in the stub now."""
        return int((await self._faults())["held"])

    async def wait_held(self, count: int) -> None:
        await until(lambda: self._at_least(count), f"{count} lookup(s) held by the tracking stub")

    async def _at_least(self, count: int) -> bool:
        return await self.held() >= count

    async def hold(self) -> None:
        await self._faults(hold=True)

    async def release(self) -> None:
        await self._faults(hold=False)


@contextlib.asynccontextmanager
async def lookups_held(tracking_url: str) -> AsyncIterator[StubHold]:
    """Hold the stub's lookups for the block; released on the way out, whatever happened."""
    async with aiohttp.ClientSession() as http:
        stub = StubHold(tracking_url, http)
        await stub.hold()
        try:
            yield stub
        finally:
            await stub.release()


def live_nodes(server) -> list[str]:
    """The node each live call of an embedded server is in (as ``/calls`` shows it)."""
    return sorted(c.current_node for c in server.supervisor.live.values())
