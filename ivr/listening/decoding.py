"""The threads Vosk decodes in: one per core, most urgent work first, and how far behind they are.

Vosk releases the interpreter's lock while it decodes, so one thread per core spreads decoding over
the cores. The work is not all alike: a final result is what a caller who stopped speaking waits
for, and audio just after they stopped is what tells whether their answer is whole; audio of a
caller still speaking can wait a little. So the threads take a final result first, then a caller's
trailing audio, then the rest, in arrival order within each kind.

How long work waits for a thread (the *lag*) says whether the node decodes in time. When it has
stayed above ``busy_lag`` for ``busy_for`` seconds the node is *busy*, until work waits less than half
of ``busy_lag`` again: new questions are then offered the keypad (see
:class:`ivr.listening.speech.SpeechListener`), so a busy node gives slower answers to the callers
already speaking and the keypad to new ones, never silence for all. A burst (callers who all stop
speaking at once) is not enough: it is over before a second has passed.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

__all__ = ["Urgency", "DecodingPool", "DecodingLoad"]

T = TypeVar("T")


class Urgency(IntEnum):
    """Which work the decoding threads take first (lowest first)."""

    #: A final result: the caller stopped speaking and waits for the answer.
    FINAL = 0
    #: Audio after the caller paused: it decides whether the answer is already whole.
    TRAILING = 1
    #: Audio of a caller speaking.
    SPEECH = 2


@dataclass(order=True)
class _Job:
    urgency: int
    seq: int
    queued_at: float = field(compare=False)
    run: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


@dataclass(frozen=True)
class DecodingLoad:
    """The pool's state, for the console and the metrics."""

    workers: int
    queued: int
    #: Seconds the oldest queued piece of work has waited.
    lag: float
    busy: bool
    #: Questions offered the keypad since start because the node was busy.
    offered_keypad: int


class DecodingPool:
    """``workers`` threads taking the most urgent decoding work first."""

    def __init__(self, workers: int, *, busy_lag: float = 0.25, busy_for: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, name: str = "vosk") -> None:
        self.workers = workers
        self.busy_lag, self.busy_for = busy_lag, busy_for
        #: Since when work has waited more than ``busy_lag`` (None: it does not).
        self._late_since: float | None = None
        self._clock = clock
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._offered_keypad = 0
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for t in self._threads:
            t.start()

    def submit(self, urgency: Urgency, run: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``run`` for a decoding thread; the returned future (of the running loop) has its result."""
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the decoding pool is shut down")
            heapq.heappush(self._heap, _Job(int(urgency), next(self._seq), self._clock(), run, future))
            self._ready.notify()
        return asyncio.wrap_future(future)

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return
                job = heapq.heappop(self._heap)
                self._track_lateness(self._clock() - job.queued_at)
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(job.run())
            except BaseException as exc:  # handed to whoever awaits the result
                job.future.set_exception(exc)

    def _track_lateness(self, waited: float) -> None:
        """Work has waited ``waited`` seconds (the lock held): since when work is late, if it is. Called
        as each piece leaves the queue, and with the oldest still queued when asked."""
        if waited > self.busy_lag and self._late_since is None:
            self._late_since = self._clock() - waited + self.busy_lag
        elif waited < self.busy_lag / 2:
            self._late_since = None  # caught up: nothing waits, or not for long

    def _waited(self) -> float:
        """Seconds the oldest queued piece of work has waited (the lock held; 0 when none waits)."""
        oldest = min((j.queued_at for j in self._heap), default=None)
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest)

    def _is_busy(self, waited: float) -> bool:
        """Whether the node is busy, given how long the oldest queued work has waited (the lock held)."""
        self._track_lateness(waited)
        return self._late_since is not None and self._clock() - self._late_since >= self.busy_for

    def lag(self) -> float:
        """Seconds the oldest queued piece of work has waited (0 when none waits)."""
        with self._ready:
            return self._waited()

    @property
    def busy(self) -> bool:
        """Whether the node decodes too late for new speakers: work has waited more than ``busy_lag`` for
        ``busy_for`` seconds (what waits now counts too), and not yet less than half of it since."""
        with self._ready:
            return self._is_busy(self._waited())

    def note_keypad_offered(self) -> int:
        """A question was offered the keypad because this pool is busy; returns how many so far."""
        with self._ready:
            self._offered_keypad += 1
            return self._offered_keypad

    @property
    def offered_keypad(self) -> int:
        """Questions offered the keypad since start because the node was busy."""
        return self._offered_keypad

    def load(self) -> DecodingLoad:
        """The pool's state now."""
        with self._ready:
            waited = self._waited()
            return DecodingLoad(self.workers, len(self._heap), round(waited, 3), self._is_busy(waited),
                                self._offered_keypad)

    def shutdown(self) -> None:
        """Stop the threads; queued work is cancelled (a job already running finishes)."""
        with self._ready:
            self._closed = True
            jobs, self._heap = self._heap, []
            self._ready.notify_all()
        for job in jobs:
            job.future.cancel()
