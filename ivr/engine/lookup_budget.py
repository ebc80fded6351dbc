"""How many files one caller may look up: enough for a real caller, not for reading out the database."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable

__all__ = ["LookupBudget"]


class LookupBudget:
    """At most ``per_caller`` lookups per caller number in any ``window`` seconds.

    A caller asks about a file or two; somebody reading out statuses file after file is stopped
    (their calls go to an agent instead). Callers without a number share one budget ``shared``
    times larger. At most ``max_callers`` numbers are remembered (the oldest are forgotten).
    """

    def __init__(self, per_caller: int = 10, window: float = 600.0, *, shared: int = 10,
                 max_callers: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_caller = per_caller
        self.window = window
        self.shared = shared
        self.max_callers = max_callers
        self.clock = clock
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, caller: str) -> bool:
        """Count one lookup for ``caller`` ("" for a caller without a number); False when over budget."""
        now = self.clock()
        limit = self.per_caller if caller else self.per_caller * self.shared
        times = self._seen.pop(caller, None) or deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        self._seen[caller] = times  # most recent last
        if len(self._seen) > self.max_callers:
            self._seen.popitem(last=False)
        if len(times) >= limit:
            return False
        times.append(now)
        return True
