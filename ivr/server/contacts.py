"""Who called about what, kept for « once and done »: did the caller (or the file) call again within N days?

At the end of every offered call the node notes its contacts: the caller's number (not when withheld)
and the value of the line's contact slot (the 34 00: the file number), each with the call's segment
(the title type). The store keeps them as keyed hashes only, and forgets them once older than the
indicators' 7 days plus the follow-up days. Contacts wait here (bounded) and are saved once a second:
a call never waits on the store.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import structlog
from typing_extensions import override

from ..admin.kpis import KEEP_SECONDS, offered
from ..calls.call import Call
from ..calls.record import CallRecord
from ..store import Store
from .saving import EverySecond

__all__ = ["ContactBook", "CALLER", "FILE"]

log = structlog.get_logger("ivr.server")

#: The kinds of contact: the caller's number, and what the call was about (the contact slot's value).
CALLER = "caller"
FILE = "file"


class ContactBook(EverySecond):
    """Notes each offered call's contacts and saves them (see the module)."""

    def __init__(self, store: Store, *, contact_slot: str | None, segment: str | None, days: float,
                 every: float = 1.0, capacity: int = 50_000, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.contact_slot = contact_slot
        self.segment = segment
        self.days = days
        self.every = every
        self.clock = clock
        self.waiting: deque[tuple[float, str, str, str]] = deque(maxlen=capacity)
        self.saved = 0
        self._last_purge = 0.0

    def call_ended(self, call: Call, record: CallRecord) -> None:
        """Note a finished call's contacts (an offered call's only: a closed line is not a contact)."""
        if not offered(record):
            return
        now = self.clock()
        segment = str(call.answers.get(self.segment, "")) if self.segment else ""
        if call.caller_number and not call.caller_withheld:
            self.waiting.append((now, CALLER, call.caller_number, segment))
        value = call.answers.get(self.contact_slot) if self.contact_slot else None
        if value:
            self.waiting.append((now, FILE, str(value), segment))

    @override
    async def save(self) -> int:
        """Save what waits; purge what is too old (once an hour); how many were saved."""
        batch = list(self.waiting)
        if batch:
            await self.store.add_contacts(batch)
            for _ in batch:
                self.waiting.popleft()
            self.saved += len(batch)
        now = self.clock()
        if now - self._last_purge >= 3600:
            self._last_purge = now
            await self.store.purge_contacts(now - KEEP_SECONDS - self.days * 86400)
        return len(batch)
