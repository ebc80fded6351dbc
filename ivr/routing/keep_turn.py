"""A callback that keeps a waiting caller's place in the queue.

The queues' announcements end with « pour être rappelé quand votre tour viendra, sans perdre votre
place, tapez étoile ». The key * takes the caller out of the queue to ``[ivr-queue-leave]``, which asks the
IVR (AGI request ``keep-turn``, with the queue and the place the caller left). The IVR reads back the
end of the number it would call, asks to confirm, books the callback in the store and originates a
placeholder that joins the queue *at that place*: when an agent takes it, its other half calls the
caller, so the caller is called when their turn comes, not at the back of the line. A caller who
does not confirm, a number that cannot be called back, the manager or the store away: the caller is
told and the dialplan puts them back in the queue where they were.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass

import structlog

from .. import dialplan
from ..interfaces import CallerChannel, PromptPaths, SpokenText
from ..privacy import mask_caller
from ..store import Store
from ..tts.sentences import kept_turn_offer
from .callback_numbers import CallbackNumbers
from .live import Manager

__all__ = ["TurnRequest", "TurnKeeper", "TURN_PROMPTS"]

log = structlog.get_logger("ivr.keep_turn")

#: The catalog prompts a kept turn plays: booked, staying in the queue, not possible.
TURN_PROMPTS = ("tour_garde", "tour_reste", "tour_impossible")

#: The most places a queue may have (a position beyond it is not believed).
MAX_POSITION = 1000


@dataclass(frozen=True)
class TurnRequest:
    """What ``[ivr-queue-leave]`` asks: the queue the caller left, the place and priority they had."""

    queue: str
    position: int
    priority: int

    @classmethod
    def parse(cls, queue: str | None, position: str | None, priority: str | None,
              queues: Collection[str]) -> TurnRequest | None:
        """The request, or None when its queue is not one the IVR routes to or its place is not a place
        (the priority the caller had in the queue: 0 when none)."""
        if not queue or queue not in queues or not position or not position.isdigit():
            return None
        place = int(position)
        prio = int(priority) if priority and priority.isdigit() and len(priority) <= 2 else 0
        return cls(queue, place, prio) if 1 <= place <= MAX_POSITION else None


class TurnKeeper:
    """Offers, books and keeps a waiting caller's turn (see the module's description)."""

    def __init__(self, store: Store, ami: Manager, numbers: CallbackNumbers, prompts: PromptPaths,
                 spoken: SpokenText, *, queues: Callable[[], Collection[str]], hold_seconds: float = 3600.0,
                 max_holding: int = 500, confirm_seconds: float = 8.0, store_seconds: float = 3.0) -> None:
        self.store, self.ami, self.numbers = store, ami, numbers
        self.prompts, self.spoken = prompts, spoken
        self.queues = queues
        self.hold_seconds = hold_seconds
        self.max_holding = max_holding
        self.confirm_seconds = confirm_seconds
        self.store_seconds = store_seconds
        #: Placeholders waiting in a queue (each an originate waiting for an agent): bounded.
        self.holding: set[asyncio.Task[None]] = set()

    async def serve(self, channel: CallerChannel, queue: str | None, position: str | None, priority: str | None,
                    number: str, *, withheld: bool = False, uniqueid: str = "") -> str:
        """One caller's key * in a queue: ``kept`` (booked, the call ends), ``stayed`` (the caller did not
        confirm) or ``refused`` (not possible); but for ``kept`` the dialplan queues them again at their place."""
        request = TurnRequest.parse(queue, position, priority, self.queues())
        dialable = self.numbers.dialable(number, withheld=withheld) if request is not None else None
        if request is None or dialable is None or not self.ami.connected or len(self.holding) >= self.max_holding:
            log.info("keep_turn_refused", queue=queue, position=position, caller=mask_caller(number),
                     why="request" if request is None else "number" if dialable is None
                     else "manager" if not self.ami.connected else "capacity")
            await channel.stream_file(self.prompts.playback_path("tour_impossible"), "")
            return "refused"
        offer = await self.spoken.playback_path(kept_turn_offer(dialable))
        entered = await channel.get_data(offer, int(self.confirm_seconds * 1000), 1)
        if entered.digits != "1":
            await channel.stream_file(self.prompts.playback_path("tour_reste"), "")
            return "stayed"
        try:
            callback_id = await asyncio.wait_for(self.store.add_callback(
                dialable, request.queue, "kept_turn", {"position": str(request.position), "uniqueid": uniqueid},
                state="holding"),
                self.store_seconds)
        except Exception as exc:  # the store away: the caller stays in the queue, at their place
            log.warning("keep_turn_not_booked", error=type(exc).__name__)
            await channel.stream_file(self.prompts.playback_path("tour_impossible"), "")
            return "refused"
        self._hold(request, callback_id, dialable)
        log.info("keep_turn_booked", callback_id=callback_id, queue=request.queue, position=request.position,
                 caller=mask_caller(dialable))
        await channel.stream_file(self.prompts.playback_path("tour_garde"), "")
        await dialplan.set_outcome(channel, "callback")
        return "kept"

    def _hold(self, request: TurnRequest, callback_id: int, number: str) -> None:
        """Originate the placeholder into the queue at the caller's place; it waits there up to an hour."""
        async def hold() -> None:
            result = await self.ami.originate(
                channel=dialplan.TURN_HOLDER_CHANNEL, context=dialplan.TURN_CALL_CONTEXT, exten="s",
                variables=dialplan.turn_variables(request.queue, request.position, request.priority, callback_id,
                                                  number),
                caller_id="34 00 <3400>", timeout=self.hold_seconds)
            log.info("keep_turn_came" if result.success else "keep_turn_lost", callback_id=callback_id,
                     queue=request.queue, reason=result.reason)
            try:
                await self.store.finish_callback(callback_id, result.success,
                                                 "" if result.success else f"turn not reached: {result.reason}",
                                                 max_attempts=1)
            except Exception as exc:
                log.warning("keep_turn_not_recorded", callback_id=callback_id, error=type(exc).__name__)

        task = asyncio.create_task(hold())
        self.holding.add(task)
        task.add_done_callback(self.holding.discard)

    async def stop(self) -> None:
        """Forget the placeholders' originates (the placeholders themselves stay in Asterisk's queues)."""
        for task in list(self.holding):
            task.cancel()
        await asyncio.gather(*self.holding, return_exceptions=True)
