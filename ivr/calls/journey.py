"""What happens to a call after the IVR hands it to a queue, followed from Asterisk's queue events.

The IVR's call record ends when the IVR lets go of the channel; the caller then waits in Asterisk's
Queue(), where an agent answers, or they hang up, or they leave with * for a callback that keeps their
turn. Asterisk tells every node through the manager. ``app_queue.c`` publishes, for one caller:

* answered: ``QueueCallerJoin``, ``QueueCallerLeave``, ``AgentConnect``, ``AgentComplete``;
* hung up (or the queue's time limit reached) while waiting: ``QueueCallerJoin``, ``QueueCallerAbandon``,
  ``QueueCallerLeave``;
* left with a key (* for a kept turn): ``QueueCallerJoin``, ``QueueCallerLeave``; the dialplan may put
  them back at their place: another ``QueueCallerJoin`` on the same channel.

:class:`JourneyTracker` follows those events without any I/O. A journey is keyed by the caller's
channel ``Uniqueid``, the id the IVR's call record holds (Queue() runs on the channel the AGI ran on).
Only the calls this node took are followed, so with several nodes each journey is written by one: with
several nodes, those whose ``IVR_NODE`` names it (each node claims its calls first thing); a node alone
does not claim calls, and follows those the IVR handed to a queue (``IVR_QUEUE`` set), but the legs of
callbacks (``IVR_REASON`` ``callback``: the kept turn's placeholder, a callback's call), which are not
callers waiting. It ends when the agent's call ends, when the caller abandons, or when a
caller who left with a key has not come back within ``settle`` seconds; one that Asterisk never ends
for us (events lost while the manager was away) is marked ``unknown`` after ``max_open`` seconds,
never guessed.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from ..edges.ami.protocol import channel_variables
from .outcomes import Outcome

__all__ = ["Journey", "JourneyTracker", "JOURNEY_STATES", "journey_view"]

#: Where a journey stands: still waiting, answered (and maybe ended), abandoned, left with a key, unknown.
JOURNEY_STATES = ("waiting", "answered", "abandoned", "left", "unknown")

_UNIQUEID = re.compile(r"\d{1,15}\.\d{1,10}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: A segment is a value the IVR stored (a title type): a short token.
_SEGMENT = re.compile(r"[a-z0-9_]{1,32}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{0,80}")
#: Longest wait or talk a journey believes (a day): a field beyond it is not Asterisk's.
_MAX_SECONDS = 86_400


def _seconds(value: object) -> int | None:
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() and int(text) <= _MAX_SECONDS else None


@dataclass
class Journey:
    """One call's time in the queues, as the call record's ``journey`` shows it."""

    uniqueid: str
    node: str
    queue: str
    #: When the caller first joined a queue (seconds since the epoch, the node's clock).
    joined_at: float
    state: str = "waiting"
    #: Their place when they first joined.
    position: int = 0
    #: Times they joined a queue (more than one: back in the queue after leaving with a key).
    joins: int = 1
    #: Seconds waited in the queues, all joins together (Asterisk's HoldTime).
    waited_s: int = 0
    #: The queue whose agent answered (the team: in-house or contractor), and the agent's name.
    answered_in: str = ""
    agent: str = ""
    talk_s: int | None = None
    #: Who ended the agent's call: ``caller``, ``agent`` or ``transfer`` (Asterisk's Reason).
    ended_by: str = ""
    finished: bool = False
    #: When the journey last changed (seconds since the epoch).
    updated_at: float = 0.0
    #: The caller's segment (the 34 00's title type) as the IVR passed it to the queue; empty when none.
    segment: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The journey as the store keeps it and the console shows it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Journey:
        """A journey the store kept (fields it does not know are left out)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class JourneyTracker:
    """Follows the journeys of this node's calls (see the module). :meth:`feed` each manager event and
    call :meth:`tick` now and then; both return the journeys that changed, to be saved."""

    def __init__(self, node: str, *, claims: bool = True, settle: float = 30.0, max_open: float = 4 * 3600.0,
                 capacity: int = 10_000, segment_variable: str | None = None) -> None:
        self.node = node
        #: The channel variable that holds the caller's segment (``IVR_TITLE``), when the line has one.
        self.segment_variable = segment_variable
        #: Whether this node claims its calls (``IVR_NODE``: several nodes); alone, it does not.
        self.claims = claims
        self.settle = settle
        self.max_open = max_open
        self.capacity = capacity
        #: Journeys not finished yet, oldest first (bounded: the oldest is given up as unknown).
        self.open: OrderedDict[str, Journey] = OrderedDict()
        #: When each open journey's current wait began, and when a caller who left with a key left (they
        #: may come back).
        self._since: dict[str, float] = {}
        self._left_at: dict[str, float] = {}
        self.refused = 0

    def feed(self, event: Mapping[str, Any], now: float) -> list[Journey]:
        """One manager event; the journeys it changed."""
        name = event.get("Event")
        uniqueid = str(event.get("Uniqueid", ""))
        if name == "QueueCallerJoin":
            return self._join(event, uniqueid, now)
        journey = self.open.get(uniqueid)
        if journey is None:
            return []
        if name == "QueueCallerLeave":
            if journey.state == "waiting":
                # Answered (AgentConnect follows at once), or left with a key: settled by what comes next.
                self._left_at[uniqueid] = now
            return []
        if name == "QueueCallerAbandon":
            journey.waited_s += _seconds(event.get("HoldTime")) or 0
            return [self._finish(journey, "abandoned", now)]
        if name == "AgentConnect":
            self._left_at.pop(uniqueid, None)
            journey.state = "answered"
            journey.waited_s += _seconds(event.get("HoldTime")) or 0
            journey.answered_in = _text(event.get("Queue"), _QUEUE) or journey.queue
            journey.agent = _text(event.get("MemberName"), _NAME)
            journey.updated_at = now
            return [journey]
        if name == "AgentComplete" and journey.state == "answered":
            journey.talk_s = _seconds(event.get("TalkTime"))
            reason = str(event.get("Reason", ""))
            journey.ended_by = reason if reason in ("caller", "agent", "transfer") else ""
            return [self._finish(journey, "answered", now)]
        return []

    def tick(self, now: float) -> list[Journey]:
        """Journeys that time ends: a caller who left with a key and did not come back; one open too long."""
        changed = []
        for uniqueid, left in list(self._left_at.items()):
            journey = self.open.get(uniqueid)
            if journey is not None and now - left >= self.settle:
                journey.waited_s += max(0, round(left - self._since.get(uniqueid, left)))
                changed.append(self._finish(journey, "left", now))
        for journey in list(self.open.values()):
            if now - journey.joined_at >= self.max_open:
                changed.append(self._finish(journey, "unknown", now))
        return changed

    def _join(self, event: Mapping[str, Any], uniqueid: str, now: float) -> list[Journey]:
        journey = self.open.get(uniqueid)
        if journey is not None:  # back in the queue after leaving with a key
            left = self._left_at.pop(uniqueid, now)
            journey.waited_s += max(0, round(left - self._since.get(uniqueid, left)))
            self._since[uniqueid] = now
            journey.joins += 1
            journey.state = "waiting"
            journey.updated_at = now
            return [journey]
        variables = channel_variables(event)
        if not self._ours(variables):
            return []  # another node's call (it follows it), no node took it, or a callback's leg
        queue = _text(event.get("Queue"), _QUEUE)
        if not (_UNIQUEID.fullmatch(uniqueid) and queue):
            self.refused += 1
            return []
        position = _seconds(event.get("Position")) or 0
        segment = _text(variables.get(self.segment_variable), _SEGMENT) if self.segment_variable else ""
        journey = Journey(uniqueid, self.node, queue, now, position=position, updated_at=now, segment=segment)
        self.open[uniqueid] = journey
        self._since[uniqueid] = now
        changed = [journey]
        while len(self.open) > self.capacity:
            changed.append(self._finish(next(iter(self.open.values())), "unknown", now))
        return changed

    def _ours(self, variables: Mapping[str, str]) -> bool:
        if self.claims:
            return variables.get("IVR_NODE") == self.node
        return (not variables.get("IVR_NODE") and bool(variables.get("IVR_QUEUE"))
                and variables.get("IVR_REASON") != "callback")

    def _finish(self, journey: Journey, state: str, now: float) -> Journey:
        journey.state = state
        journey.finished = True
        journey.updated_at = now
        self.open.pop(journey.uniqueid, None)
        self._left_at.pop(journey.uniqueid, None)
        self._since.pop(journey.uniqueid, None)
        return journey


def journey_view(outcome: str, kept: Mapping[str, Any] | None, *, followed: bool,
                 callback: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What a call's page and JSON say happened after the IVR: None for a call the IVR ended itself; the
    callback booked in the IVR (``state`` ``callback``); the journey in the queues when one was kept, with
    the callback that keeps the caller's turn if they left for one; else ``unknown`` and why (never a
    guess)."""
    kind = Outcome.of(outcome)
    if kind is Outcome.CALLBACK:
        return {"state": "callback", "callback": dict(callback) if callback else None}
    if kind is None or not kind.to_agent:
        return None
    if kept is not None:
        return {**kept, "callback": dict(callback) if callback else None}
    why = ("no queue event was seen for this call" if followed
           else "this node does not follow the queues (no manager connection: IVR_AMI_USER)")
    return {"state": "unknown", "why": why}


def _text(value: object, pattern: re.Pattern[str]) -> str:
    """``value`` if it is what Asterisk writes there, else empty (an event's text is never trusted)."""
    text = str(value if value is not None else "")
    return text if pattern.fullmatch(text) else ""
