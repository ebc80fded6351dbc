"""The router: rules + live queue load (from AMI when connected) + caller history → a decision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from ..interfaces import CallView, Decision
from .callback_numbers import CallbackNumbers
from .live import CallCounter, QueueBoardView
from .rules import RoutingRules, matches

__all__ = ["RulesRouter"]

log = structlog.get_logger("ivr.routing")


class RulesRouter:
    """Implements :class:`ivr.interfaces.Router`.

    ``facts(call)`` gives what the line's rules test about a call (its profile's routing facts);
    ``board`` is the AMI controller's queue board (or None without AMI: then rules alone decide,
    with no overflow, wait announcement or callback); ``store`` counts each caller's calls of the
    day for the priority rules.
    """

    def __init__(self, rules: RoutingRules | None, facts: Callable[[CallView], dict[str, Any]], *, board: QueueBoardView | None = None,
                 connected: Callable[[], bool] = lambda: False, store: CallCounter | None = None,
                 can_call_back: Callable[[], bool] = lambda: False, numbers: CallbackNumbers | None = None) -> None:
        self.rules = rules
        self.facts = facts
        self.numbers = numbers or CallbackNumbers()
        self.board = board
        self.connected = connected
        self.store = store
        self.can_call_back = can_call_back

    async def decide(self, call: CallView, requested: str, reason: str) -> Decision:
        """Where a route node sends the caller, as the rules decide on the live queue state."""
        if self.rules is None:
            raise RuntimeError("no routing rules loaded")
        # Per-caller counts only for callers who can be told apart: withheld numbers all look alike.
        identified = self.numbers.identified(call.caller_number, withheld=call.caller_withheld)
        if self.store is not None and identified and "calls_today" not in call.variables:
            try:
                day = call.now.astimezone(ZoneInfo(self.rules.timezone)).date()
                call.variables["calls_today"] = await self.store.count_call(call.caller_number, day)
            except Exception as exc:  # the store being down must not stop a hand-off
                log.warning("call_count_unavailable", error=str(exc))
        facts = {**self.facts(call), "reason": reason, "calls_today": call.variables.get("calls_today", 1)}
        if requested != "auto":
            decision = Decision(requested, reason, "flow")
        else:
            rule = next(r for r in self.rules.rules if matches(r.when, facts))
            decision = Decision(rule.queue, reason if reason else (rule.reason or "rule"), rule.name)
            if rule.reason and reason in ("", "auto"):
                decision.reason = rule.reason
        decision.priority = max((p.priority for p in self.rules.priority if matches(p.when, facts)), default=0)
        board = self.board if self.board is not None and self.connected() else None
        if board is not None:
            state = board.get(decision.queue)
            wait = state.expected_wait() if state else None
            for o in self.rules.overflow:
                if o.from_ == decision.queue and wait is not None and wait > o.wait_above and not (
                    o.unless and matches(o.unless, facts)
                ):
                    target = board.get(o.to)
                    target_wait = target.expected_wait() if target else None
                    # Overflow only to a queue that answers sooner: when nobody staffs either
                    # queue, moving the caller would only lose the team that knows the file.
                    if target_wait is None or target_wait >= wait:
                        continue
                    decision.overflowed_from = decision.queue
                    decision.queue = o.to
                    wait = target_wait
                    break
            decision.expected_wait = wait
            waiting = self.rules.waiting
            decision.announce_wait = wait is not None and wait > waiting.announce_above
            decision.offer_callback = (wait is not None and wait > waiting.callback_above and self.can_call_back()
                                       and self.numbers.dialable(call.caller_number,
                                                                 withheld=call.caller_withheld) is not None)
        log.info("routing_decision", queue=decision.queue, reason=decision.reason, rule=decision.rule,
                 priority=decision.priority, expected_wait=decision.expected_wait,
                 overflowed_from=decision.overflowed_from, live=board is not None)
        return decision

