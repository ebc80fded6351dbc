"""Looking a 34 00 file up: the tracking service's answer, with the sentence the caller hears."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date

from ..interfaces import LookupResult, LookupService
from .statuses import STATUSES, status_sentence

__all__ = ["FileLookup"]


class FileLookup:
    """Implements :class:`ivr.interfaces.LookupService`: the tracking client's result, plus
    ``readback`` (the status in natural French) for a file that was found."""

    def __init__(self, tracking: LookupService, today: Callable[[], date] = date.today) -> None:
        self.tracking = tracking
        self.statuses = tracking.statuses
        self.arguments = tracking.arguments
        self.fields = tracking.fields | {"readback"}
        self.values: Mapping[str, frozenset[str]] = {**tracking.values, "status": frozenset(STATUSES)}
        self.timeout = tracking.timeout
        self._today = today

    async def lookup(self, **args: str) -> LookupResult:
        """Look a file up; a found file's status comes back with the words to say it."""
        result = await self.tracking.lookup(**args)
        if result.status == "found":
            result.data["readback"] = status_sentence(result.data, self._today())
        return result
