"""The AMI controller: one connection to Asterisk's manager, owned reconnect loop, live queue state.

Built on panoramisk's ``Manager`` for the protocol, but the reconnect loop is
ours: panoramisk retries every ``reconnect_timeout`` and logs every failure;
here retries back off (0.5 s doubling to 4 s, so a returning Asterisk is seen
within 5 s) and the log has one line per state change. Calls in progress never
wait on AMI: routing reads the last known queue state, and actions time out.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import structlog
from panoramisk import Manager

from .protocol import distrust
from .queues import QueueBoard

__all__ = ["AmiController", "AmiUnavailable", "OriginateResult"]

log = structlog.get_logger("ivr.ami")

#: Actions panoramisk must never replay by itself after a reconnect (we retry where it is safe).
_NEVER_REPLAY = ("ping", "login", "logoff", "queuestatus", "queuesummary", "originate", "queueadd", "queueremove")


class AmiUnavailable(RuntimeError):
    """Not connected to Asterisk's manager, or it did not answer in time."""


class OriginateResult:
    """What came of an Originate: whether the channel answered, and why not."""

    def __init__(self, success: bool, reason: str, event: dict[str, Any] | None = None) -> None:
        self.success = success
        self.reason = reason
        self.event = event or {}


class _Manager(Manager):  # type: ignore[misc]  # panoramisk ships no type hints
    """panoramisk's Manager without its own reconnect timer: the controller decides when to retry."""

    def __init__(self, controller: "AmiController", **config: Any) -> None:
        super().__init__(**config)
        self._controller = controller

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        if f.cancelled():  # the IVR is stopping while it connects: nothing to retry
            return
        if f.exception() is not None:
            self._controller._lost()
            return
        super().connection_made(f)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connected = False
        pinger: asyncio.Handle | None = getattr(self, "pinger", None)  # panoramisk's keep-alive timer
        if pinger:
            pinger.cancel()
            self.pinger = None
        self._controller._lost()


def printable_name(name: object) -> str:
    """An event name fit for a log line (what a forged event calls itself is the attacker's text)."""
    return "".join(ch if ch.isascii() and ch.isalnum() else "?" for ch in str(name))[:40]


class AmiController:
    """Keeps a logged-in AMI connection and a :class:`QueueBoard` up to date."""

    def __init__(self, host: str, port: int, username: str, secret: str, *, refresh: float = 5.0,
                 action_timeout: float = 5.0, backoff: tuple[float, float] = (0.5, 4.0)) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.secret = secret
        self.refresh = refresh
        self.action_timeout = action_timeout
        self.backoff = backoff
        self.board = QueueBoard()
        self.state = "stopped"  # connecting, connected, disconnected, auth_failed, stopped
        self._manager: _Manager | None = None
        self._lost_event = asyncio.Event()
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Called with every event (a dict), after the queue board: see :meth:`subscribe`.
        self._subscribers: list[Callable[[dict[str, Any]], None]] = []
        #: Events refused as untrustworthy (:func:`~ivr.edges.ami.protocol.distrust`).
        self.refused_events = 0
        self._refusal_logged_at = -1e9

    def subscribe(self, handler: Callable[[dict[str, Any]], None]) -> None:
        """Have ``handler`` called with each AMI event (a dict; a repeated field is a list). It runs in
        the event loop and must not block; what it raises is logged and ignored."""
        self._subscribers.append(handler)

    # -- state -------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the manager connection is up and logged in."""
        return self.state == "connected"

    def _set_state(self, state: str, **info: Any) -> None:
        if state != self.state:
            level = log.info if state in ("connected", "connecting") else log.warning
            level("ami_state", state=state, previous=self.state, host=self.host, port=self.port, **info)
            self.state = state

    def _lost(self) -> None:
        self._ready.clear()
        self._lost_event.set()

    async def wait_connected(self, timeout: float) -> bool:
        """Wait until connected; whether it happened within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    # -- life cycle --------------------------------------------------------

    def start(self) -> None:
        """Connect, and keep reconnecting for as long as the controller runs."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._manager is not None:
            self._manager.close()
        self._set_state("stopped")

    async def _run(self) -> None:
        delay = self.backoff[0]
        self._set_state("connecting")
        while True:
            outcome = await self._session()
            if outcome == "auth_failed":
                self._set_state("auth_failed", user=self.username)
                await asyncio.sleep(30)  # wrong credentials: do not hammer the manager
                continue
            self._set_state("disconnected")
            if outcome == "was_connected":
                delay = self.backoff[0]  # a connection that worked is retried at once, then backs off
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])

    async def _session(self) -> str:
        """One connection: connect, log in, snapshot, refresh until lost. Returns why it ended."""
        self._lost_event.clear()
        loop = asyncio.get_running_loop()
        manager = _Manager(self, host=self.host, port=self.port, username=self.username, secret=self.secret,
                           loop=loop, ping_delay=10, ping_interval=10, forgetable_actions=_NEVER_REPLAY,
                           log=_QuietLog())
        manager.register_event("*", self._on_event)
        if self._manager is not None:
            self._manager.close()
        self._manager = manager
        manager.connect()
        # Wait for the login answer (or the connection failing).
        deadline = time.monotonic() + self.action_timeout
        while manager.authenticated_future is None and not manager.authenticated:
            if self._lost_event.is_set() or time.monotonic() > deadline:
                manager.close()
                return "failed"
            await asyncio.sleep(0.02)
        fut = manager.authenticated_future
        if fut is not None:
            # The login answer, unless the connection drops first (then it never comes).
            lost = asyncio.ensure_future(self._lost_event.wait())
            try:
                done, _ = await asyncio.wait({fut, lost}, timeout=self.action_timeout + 2,
                                             return_when=asyncio.FIRST_COMPLETED)
            finally:
                lost.cancel()
            if fut not in done or fut.cancelled() or fut.exception() is not None:
                manager.close()
                return "failed"
            if not getattr(fut.result(), "success", False):
                manager.close()
                return "auth_failed"
        self._set_state("connected")
        self._ready.set()
        try:
            while not self._lost_event.is_set():
                with contextlib.suppress(AmiUnavailable):
                    await self.refresh_queues()
                try:
                    await asyncio.wait_for(self._lost_event.wait(), self.refresh)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._ready.clear()
            manager.close()
        return "was_connected"

    # -- events and actions ------------------------------------------------

    def _on_event(self, manager: Manager, event: Any) -> None:
        data = dict(event)
        name = data.get("Event", "")
        why = distrust(data, self.board.queues)  # before the first QueueSummary no queue is known: none trusted
        if why is not None:  # nothing Asterisk would write: neither the board nor a subscriber sees it
            self.refused_events += 1
            now = time.monotonic()
            if now - self._refusal_logged_at >= 10.0:  # one line per ten seconds, whatever the flood
                self._refusal_logged_at = now
                log.warning("ami_event_refused", ami_event=printable_name(name), why=why,
                            refused_so_far=self.refused_events)
            return
        if name.startswith("Queue") or name.startswith("Agent"):
            self.board.apply_event(data)
        for handler in self._subscribers:
            try:
                handler(data)
            except Exception:
                log.exception("ami_subscriber_failed", ami_event=name)

    async def action(self, fields: dict[str, Any], *, as_list: bool | None = None, timeout: float | None = None) -> Any:
        """Send one action and wait for its answer (a list for list actions)."""
        if not self.connected or self._manager is None:
            raise AmiUnavailable("not connected to the Asterisk manager")
        try:
            return await asyncio.wait_for(self._manager.send_action(fields, as_list=as_list),
                                          timeout or self.action_timeout)
        except asyncio.TimeoutError:
            raise AmiUnavailable(f"no answer to {fields.get('Action')} within {timeout or self.action_timeout:g} s") from None

    async def caller_in_queue(self, queue: str, uniqueid: str) -> bool:
        """Asterisk lists the channel ``uniqueid`` among the callers of ``queue`` now (QueueStatus)."""
        items = await self.action({"Action": "QueueStatus", "Queue": queue}, as_list=True)
        return any(str(m.get("Event", "")) == "QueueEntry" and str(m.get("Uniqueid", "")) == uniqueid
                   for m in (items if isinstance(items, list) else [items]))

    async def refresh_queues(self) -> None:
        """QueueSummary: replace the board's figures with Asterisk's."""
        items = await self.action({"Action": "QueueSummary"}, as_list=True)
        for msg in items if isinstance(items, list) else [items]:
            if str(msg.get("Event", "")) == "QueueSummary":
                self.board.apply_summary(dict(msg))

    async def originate(self, *, channel: str, context: str, exten: str, priority: int = 1,
                        variables: dict[str, str] | None = None, caller_id: str = "", timeout: float = 45.0
                        ) -> OriginateResult:
        """Originate with ``Async: true`` and wait for its ``OriginateResponse`` (panoramisk gathers both)."""
        fields: dict[str, Any] = {"Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
                  "Priority": str(priority), "Async": "true", "Timeout": str(int(timeout * 1000))}
        if caller_id:
            fields["CallerID"] = caller_id
        if variables:
            fields["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        try:
            reply = await self.action(fields, timeout=timeout + self.action_timeout)
        except AmiUnavailable as exc:
            return OriginateResult(False, str(exc))
        messages = reply if isinstance(reply, list) else [reply]
        first = messages[0]
        if str(first.get("Response", "")).lower() != "success":
            return OriginateResult(False, str(first.get("Message", "refused")))
        final = next((m for m in messages if str(m.get("Event", "")) == "OriginateResponse"), None)
        if final is None:
            return OriginateResult(False, "no OriginateResponse")
        ok = str(final.get("Response", "")).lower() == "success"
        return OriginateResult(ok, str(final.get("Reason", "")), dict(final))


class _QuietLog:
    """panoramisk logs every retry and message; our controller logs state changes itself."""

    def __getattr__(self, name: str) -> Any:
        return lambda *a, **k: None
