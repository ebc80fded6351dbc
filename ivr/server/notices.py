"""The closure notice every call on this node hears: read from the store every few seconds, so a
notice switched on or off anywhere (another node, the CLI on the shared database) is heard within
seconds on every node."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timezone

import structlog

from ..notices import Notice, live_notice
from ..store import Store

__all__ = ["NoticeBoard"]

log = structlog.get_logger("ivr.notices")

#: How many notices are read each time (the live one is among the last ones switched on).
READ = 50


class NoticeBoard:
    """The notices as last read from the store, and the live one at a given moment."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.store = store
        self.clock = clock
        self.notices: list[Notice] = []
        #: Why the last read failed ("" when it worked): the last notices read stay in force meanwhile.
        self.error = ""

    def live(self, now: datetime | None = None) -> Notice | None:
        """The notice callers hear now (or at ``now``: a simulated call's time)."""
        return live_notice(self.notices, now or self.clock())

    async def refresh(self) -> None:
        """Read the notices again; a store that does not answer leaves the last ones in force."""
        try:
            notices = await self.store.notices(READ)
        except Exception as exc:
            if not self.error:
                log.warning("notices_unreadable", error=type(exc).__name__)
            self.error = type(exc).__name__
            return
        if [n.as_dict() for n in notices] != [n.as_dict() for n in self.notices]:
            log.info("notices_changed", live=(live.id if (live := live_notice(notices, self.clock())) else None))
        self.notices, self.error = notices, ""

    async def run(self, every: float) -> None:
        """Read the notices every ``every`` seconds, until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(every)
