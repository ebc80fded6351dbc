"""The tracking client the flow's lookup node uses.

- One aiohttp session per process (connection pooling).
- A total timeout per lookup (default 2 s); retries with backoff inside it,
  only for idempotent reads that failed in a retryable way (503, connection).
- A circuit breaker: after consecutive failures the client answers "unavailable"
  at once for a cool-down period, so a dead service costs callers no waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping

import aiohttp
import structlog

from ..interfaces import LookupResult

__all__ = ["TrackingClient", "TrackingUnavailable", "CircuitBreaker"]

log = structlog.get_logger("ivr.tracking")


class TrackingUnavailable(RuntimeError):
    """The tracking service could not answer (down, slow, erroring, or circuit open)."""


class CircuitBreaker:
    """Opens when most recent lookups failed; half-opens after ``cooldown`` to try one.

    It looks at a window of recent results rather than a run of consecutive
    failures: one file that keeps failing among many that work must not cut
    everybody off, while a service that is down opens it after ``threshold``
    failures.
    """

    def __init__(self, threshold: int = 10, cooldown: float = 10.0, *, window: int = 30, ratio: float = 0.6) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.ratio = ratio
        self.recent: deque[bool] = deque(maxlen=window)  # True = failure
        self.opened_at: float | None = None

    @property
    def failures(self) -> int:
        """Failures among the recent calls."""
        return sum(self.recent)

    @property
    def state(self) -> str:
        """``closed`` (calls go through), ``open`` (calls fail fast) or ``half_open`` (one call tries)."""
        if self.opened_at is None:
            return "closed"
        return "half_open" if time.monotonic() - self.opened_at >= self.cooldown else "open"

    def allow(self) -> bool:
        """Whether a call may go to the service now."""
        return self.state != "open"

    def success(self) -> None:
        """Note a call that succeeded (a half-open circuit closes)."""
        if self.opened_at is not None:
            log.info("tracking_circuit_closed")
            self.recent.clear()
        self.opened_at = None
        self.recent.append(False)

    def failure(self) -> None:
        """Note a call that failed (enough of them open the circuit)."""
        self.recent.append(True)
        if self.state == "half_open":
            self.opened_at = time.monotonic()  # the trial failed: stay open
            return
        if self.opened_at is None and self.failures >= self.threshold and \
                self.failures / len(self.recent) >= self.ratio:
            log.warning("tracking_circuit_open", failures=self.failures, window=len(self.recent),
                        cooldown_s=self.cooldown)
            self.opened_at = time.monotonic()


class TrackingClient:
    """Implements :class:`ivr.interfaces.LookupService` for service name ``tracking``."""

    statuses = {"found", "not_found", "invalid"}
    arguments = frozenset({"title_type", "file_number"})
    #: A found file's fields, as the tracking service answers them (``dataset.FileStatus``).
    fields = frozenset({"title_type", "file_number", "status", "label", "submitted_at", "updated_at",
                        "expected_at", "expertise", "complex", "next_step"})
    values: Mapping[str, frozenset[str]] = {}

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        retries: int = 2,
        backoff: float = 0.1,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.breaker = breaker or CircuitBreaker()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=30),
                headers={"User-Agent": "ivr-3400"},
            )
        return self._session

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()

    async def health(self) -> str:
        """``ok``, or why the service cannot answer now (for readiness checks)."""
        if self.breaker.state == "open":
            return "unavailable (circuit open)"
        try:
            async with self._http().get(f"{self.base_url}/healthz", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                return "ok" if resp.status == 200 else f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return f"unavailable ({type(exc).__name__})"

    async def lookup(self, title_type: str = "", file_number: str = "", **_: str) -> LookupResult:
        """The file's status: ``found`` (with the file's fields), ``not_found`` or ``invalid``.

        Raises :class:`TrackingUnavailable` when the service cannot answer in time.
        """
        if not self.breaker.allow():
            raise TrackingUnavailable("circuit open")
        try:
            result = await asyncio.wait_for(self._lookup(title_type, file_number), self.timeout)
        except asyncio.TimeoutError:
            self.breaker.failure()
            raise TrackingUnavailable(f"no answer within {self.timeout:g} s") from None
        except TrackingUnavailable:
            self.breaker.failure()
            raise
        self.breaker.success()
        return result

    async def _lookup(self, title_type: str, file_number: str) -> LookupResult:
        url = f"{self.base_url}/v1/files/{title_type}/{file_number}"
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._http().get(url) as resp:
                    if resp.status == 200:
                        data = await resp.json()
                        data.setdefault("next_step", None)
                        return LookupResult("found", data)
                    if resp.status == 404:
                        return LookupResult("not_found")
                    if resp.status == 422:
                        return LookupResult("invalid")
                    problem = f"HTTP {resp.status}"
                    retryable = resp.status in (502, 503, 504)
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                problem, retryable = f"{type(exc).__name__}: {exc}", True
            except (aiohttp.ContentTypeError, ValueError) as exc:
                problem, retryable = f"bad answer: {exc}", False
            if not retryable or attempt > self.retries:
                raise TrackingUnavailable(problem)
            await asyncio.sleep(self.backoff * (2 ** (attempt - 1)))
