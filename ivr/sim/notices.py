"""Closure notices scenarios put in force: each around its own call's moment only, through the IVR's
admin API (the console's own ``POST /notices``), and switched off when the run ends.

A notice is line-wide: the window (a minute before the scenario's ``call.at`` to half an hour after)
keeps it from every other call of the run, which happen at other moments. The node the API is asked
reads the notice at once; other nodes read it within ``IVR_NOTICE_POLL`` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import structlog

from .scenario import Scenario

__all__ = ["AdminNotices", "scenario_notices", "NO_SWITCH"]

log = structlog.get_logger("ivr.sim")

#: Who the audit trail says switched a scenario's notice on and off.
AUTHOR = "scénario de test"
BEFORE, AFTER = timedelta(minutes=1), timedelta(minutes=30)
#: The failure of a scenario whose notice could not be switched on.
NO_SWITCH = "its closure notice could not be switched on (the IVR's admin address is needed: the embedded server, or --admin)"


class AdminNotices:
    """Switches notices on and off through the IVR's admin HTTP API."""

    def __init__(self, admin_url: str, token: str = "") -> None:
        self.url = admin_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    @contextlib.asynccontextmanager
    async def for_scenarios(self, scenarios: Sequence[Scenario]) -> AsyncIterator[set[str]]:
        """Every scenario's notice on for the run, off after it; yields the names of the scenarios whose
        notice the IVR refused (they fail with why)."""
        import aiohttp

        refused: set[str] = set()
        switched: list[int] = []
        async with aiohttp.ClientSession(headers=self.headers, timeout=aiohttp.ClientTimeout(total=15)) as http:
            try:
                for sc in scenarios:
                    if sc.call.notice is None or sc.call.at is None:
                        continue
                    asked = {"text": sc.call.notice.text, "closes": sc.call.notice.closes, "by": AUTHOR,
                             "starts_at": (sc.call.at - BEFORE).isoformat(),
                             "ends_at": (sc.call.at + AFTER).isoformat()}
                    try:
                        async with http.post(f"{self.url}/notices", json=asked) as resp:
                            body = await resp.json(content_type=None)
                            if resp.status != 201:
                                raise ValueError(f"HTTP {resp.status}: {body}")
                            switched.append(int(body["id"]))
                    except (aiohttp.ClientError, ValueError, KeyError, TimeoutError) as exc:
                        log.warning("scenario_notice_refused", scenario=sc.name, error=str(exc)[:200])
                        refused.add(sc.name)
                yield refused
            finally:
                for notice_id in switched:
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with http.post(f"{self.url}/notices/{notice_id}/end", json={"by": AUTHOR}):
                            pass


@contextlib.asynccontextmanager
async def scenario_notices(scenarios: Sequence[Scenario], switch: AdminNotices | None) -> AsyncIterator[set[str]]:
    """The notices of ``scenarios`` in force while the block runs; yields the names of those that are not
    (no switch given, or the IVR refused): their calls fail with :data:`NO_SWITCH`."""
    wanted = [sc for sc in scenarios if sc.call.notice is not None]
    if not wanted:
        yield set()
    elif switch is None:
        yield {sc.name for sc in wanted}
    else:
        async with switch.for_scenarios(wanted) as refused:
            yield refused
