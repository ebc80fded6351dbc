"""Callbacks: kept in the store when a caller accepts one; dialled when the queue has a free agent.

The dialler originates a call to the caller into the dialplan context that
queues them (``IVR_QUEUE`` and ``IVR_REASON=callback`` set on the channel).
Pending callbacks are in the store, so a restart loses none; one being dialled
when the process stopped is dialled again. With several nodes (PostgreSQL) one node dials at a
time, and a callback claimed by a node that died is dialled by another when its lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import re

import structlog

from .. import dialplan
from ..interfaces import Decision
from ..privacy import mask_caller
from ..store import Store
from .callback_numbers import CallbackNumbers
from .live import CallbackStore, Manager

__all__ = ["CallbackBook", "CallbackDialer", "check_channel_template"]

log = structlog.get_logger("ivr.callbacks")


class CallbackBook:
    """Implements :class:`ivr.interfaces.CallbackBook` over the store."""

    def __init__(self, store: CallbackStore, numbers: CallbackNumbers | None = None) -> None:
        self.store = store
        self.numbers = numbers or CallbackNumbers()

    async def schedule(self, number: str, decision: Decision, context: dict[str, str]) -> int:
        """Book a callback to ``number``; its id (a number that cannot be dialled is refused)."""
        dialable = self.numbers.dialable(number)
        if dialable is None:  # the router offers no callback then; this is the second lock
            raise ValueError("this caller number cannot be called back")
        callback_id = await self.store.add_callback(dialable, decision.queue, decision.reason, context)
        log.info("callback_scheduled", callback_id=callback_id, queue=decision.queue, caller=number)
        return callback_id


def check_channel_template(template: str) -> str:
    """The callback channel setting (``Local/{number}@ivr-callback-out``): one ``{number}`` and plain
    dial-string characters around it, so the only variable part is the validated number."""
    if template.count("{number}") != 1 or not re.fullmatch(r"[A-Za-z0-9/@._-]*", template.replace("{number}", "")):
        raise ValueError(f"callback channel {template!r}: one {{number}} and letters, digits, / @ . _ - around it")
    return template


class CallbackDialer:
    """Originates pending callbacks through AMI when their queue has a free agent."""

    def __init__(self, store: Store, ami: Manager, queues: list[str], *, channel: str = "Local/{number}@ivr-callback-out",
                 context: str = "ivr-callback", interval: float = 2.0, retry_after: float = 60.0,
                 numbers: CallbackNumbers | None = None) -> None:
        self.store = store
        self.ami = ami
        self.numbers = numbers or CallbackNumbers()
        self.channel = check_channel_template(channel)
        self.context = context
        self.interval = interval
        self.queues = queues
        self.retry_after = retry_after
        #: Who dials callbacks, as the last tick saw it (:meth:`Store.dialler_state`): ``stalled: …`` is
        #: what /readyz, the metric and the alert report.
        self.state = "not started"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start dialling due callbacks in the background."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop dialling (a callback being dialled is dialled again later)."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("callback_dialer_failed")
            await asyncio.sleep(self.interval)

    async def tick(self) -> int:
        """Dial what can be dialled now; returns how many originates were tried."""
        if not self.ami.connected:
            self.state = "waiting for the manager (AMI)"
            return 0
        if not await self.store.try_lead():  # several nodes: the one holding the dialler's lock dials
            try:
                self.state = await self.store.dialler_state()
            except Exception as exc:
                self.state = f"unknown ({type(exc).__name__})"
            return 0
        self.state = "leading"
        tried = 0
        for queue in self.queues:
            state = self.ami.board.get(queue)
            free = state.available if state else 0
            while free > 0:
                cb = await self.store.next_callback(queue)
                if cb is None:
                    break
                number = self.numbers.dialable(cb.number)
                if number is None:  # a row this policy refuses (written before it, or by hand): never dialled
                    await self.store.finish_callback(cb.id, False, "number refused", max_attempts=1)
                    log.warning("callback_refused", callback_id=cb.id, caller=mask_caller(cb.number))
                    continue
                free -= 1
                tried += 1
                result = await self.ami.originate(
                    channel=self.channel.replace("{number}", number), context=self.context, exten="s",
                    variables=dialplan.callback_variables(queue, cb.id, cb.context),
                    caller_id="34 00 <3400>")
                new_state = await self.store.finish_callback(cb.id, result.success, "" if result.success else result.reason,
                                                             retry_after=self.retry_after)
                log.info("callback_dialled", callback_id=cb.id, queue=queue, ok=result.success,
                         reason=result.reason, state=new_state, caller=mask_caller(cb.number))
        return tried
