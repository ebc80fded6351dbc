"""The router: rules + live queue load (from AMI when connected) + caller history → a decision."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import structlog

from ..calls.call import Call
from .rules import Decision, RoutingRules, matches

__all__ = ["RulesRouter", "facts_of"]

log = structlog.get_logger("ivr.routing")


def facts_of(call: Call, reason: str) -> dict[str, Any]:
    """What the rules can test about this call."""
    dossier = call.variables.get("dossier") if isinstance(call.variables.get("dossier"), dict) else {}
    return {
        "title": call.variables.get("title"),
        "status": dossier.get("status"),
        "complex": bool(dossier.get("complex") or dossier.get("expertise")),
        "expertise": bool(dossier.get("expertise")),
        "reason": reason,
        "caller_type": call.variables.get("caller_type"),
        "calls_today": call.variables.get("calls_today", 1),
    }


class RulesRouter:
    """Implements the engine's ``Router``.

    ``board`` is the AMI controller's queue board (or None without AMI: then
    rules alone decide, with no overflow, wait announcement or callback);
    ``store`` counts each caller's calls of the day for the priority rules.
    """

    def __init__(self, rules: RoutingRules, *, board=None, connected=lambda: False, store=None,
                 can_call_back=lambda: False) -> None:
        self.rules = rules
        self.board = board
        self.connected = connected
        self.store = store
        self.can_call_back = can_call_back

    async def decide(self, call: Call, requested: str, reason: str) -> Decision:
        if self.store is not None and "calls_today" not in call.variables:
            try:
                day = call.now.astimezone(ZoneInfo(self.rules.timezone)).date()
                call.variables["calls_today"] = await self.store.count_call(call.caller_number, day)
            except Exception as exc:  # the store being down must not stop a hand-off
                log.warning("call_count_unavailable", error=str(exc))
        facts = facts_of(call, reason)
        if requested != "auto":
            decision = Decision(requested, reason, "flow")
        else:
            rule = next(r for r in self.rules.rules if matches(r.when, facts))
            decision = Decision(rule.queue, reason if reason else (rule.reason or "rule"), rule.name)
            if rule.reason and reason in ("", "auto"):
                decision.reason = rule.reason
        decision.priority = max((p.priority for p in self.rules.priority if matches(p.when, facts)), default=0)
        live = self.board is not None and self.connected()
        if live:
            state = self.board.get(decision.queue)
            wait = state.expected_wait() if state else None
            for o in self.rules.overflow:
                if o.from_ == decision.queue and wait is not None and wait > o.wait_above and not (
                    o.unless and matches(o.unless, facts)
                ):
                    target = self.board.get(o.to)
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
                                       and _callable_number(call.caller_number))
        call.record.rule = decision.rule
        call.record.expected_wait = decision.expected_wait
        log.info("routing_decision", queue=decision.queue, reason=decision.reason, rule=decision.rule,
                 priority=decision.priority, expected_wait=decision.expected_wait,
                 overflowed_from=decision.overflowed_from, live=live)
        return decision


def _callable_number(number: str) -> bool:
    digits = "".join(ch for ch in number if ch.isdigit())
    return len(digits) >= 9 and number.lower() not in ("anonymous", "unknown")
