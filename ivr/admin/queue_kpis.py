"""The figures of what happens after the IVR, from the calls' journeys in the queues and the callbacks.

The definitions (the README's "Indicators" section says the same, for operators), per queue, over the
calls that joined it in the window:

* **offered to the queue**: calls the IVR handed to it (their first join);
* **answered**, and **answered within the service level** (``service_level_s``, 20 s by default): an
  agent took the call after that long at most (every wait of the call together);
* **service level** = answered within the threshold / (answered + abandoned): the callers who left
  with * for a callback and those nothing was heard of are not in it, they did not wait it out;
* **average speed of answer** = the mean wait of the answered calls;
* **abandonment in queue** = abandoned / (answered + abandoned);
* **callback success** = callbacks reached (``done``) / callbacks that ended (``done`` + ``failed``),
  over the callbacks booked in the window (both kinds: offered by the IVR, or a kept turn).

No I/O here: the server reads the journeys and callbacks from the store and passes them in.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .kpis import UNSAID

__all__ = ["queue_figures", "queue_figures_by_segment", "callback_figures", "service_level_by_day", "QUEUE_RESULTS",
           "DEFAULT_SERVICE_LEVEL"]

#: Seconds within which an answer counts for the service level (the usual 80/20 target's 20).
DEFAULT_SERVICE_LEVEL = 20
#: How a finished journey ends, as the metrics label it.
QUEUE_RESULTS = ("answered_in_time", "answered_late", "abandoned", "left", "unknown")


def result_of(journey: Mapping[str, Any], service_level_s: int) -> str | None:
    """A finished journey's result (:data:`QUEUE_RESULTS`); None while it is not finished."""
    if not journey.get("finished"):
        return None
    state = journey.get("state")
    if state == "answered":
        return "answered_in_time" if int(journey.get("waited_s") or 0) <= service_level_s else "answered_late"
    return str(state) if state in ("abandoned", "left", "unknown") else "unknown"


def queue_figures(journeys: Iterable[Mapping[str, Any]], *, since: float,
                  service_level_s: int = DEFAULT_SERVICE_LEVEL, queues: Iterable[str] = ()) -> dict[str, Any]:
    """Per queue (every one of ``queues``, and any other a journey names): the counts and shares above,
    over the journeys that began at ``since`` or later."""
    counts: dict[str, Counter[str]] = {q: Counter() for q in queues}
    for journey in journeys:
        if float(journey.get("joined_at") or 0) < since:
            continue
        tally = counts.setdefault(str(journey.get("queue") or "-"), Counter())
        tally["offered"] += 1
        result = result_of(journey, service_level_s)
        if result is None:
            tally["waiting"] += 1
            continue
        tally[result] += 1
        if result.startswith("answered"):
            tally["answered"] += 1
            tally["wait_sum"] += int(journey.get("waited_s") or 0)
    return {queue: _figures(tally, service_level_s) for queue, tally in sorted(counts.items())}


def queue_figures_by_segment(journeys: Iterable[Mapping[str, Any]], *, since: float,
                             service_level_s: int = DEFAULT_SERVICE_LEVEL) -> dict[str, dict[str, Any]]:
    """:func:`queue_figures` per segment (the title type the caller gave, :data:`UNSAID` when none), over
    the queues each segment's callers were offered to."""
    by_segment: dict[str, list[Mapping[str, Any]]] = {}
    for journey in journeys:
        by_segment.setdefault(str(journey.get("segment") or UNSAID), []).append(journey)
    figures = {segment: queue_figures(group, since=since, service_level_s=service_level_s)
               for segment, group in sorted(by_segment.items())}
    return {segment: queues for segment, queues in figures.items() if queues}


def service_level_by_day(journeys: Iterable[Mapping[str, Any]], day_starts: list[float], *,
                         service_level_s: int = DEFAULT_SERVICE_LEVEL) -> list[tuple[int, int]]:
    """For each day (its start, ascending; the last runs on), every queue together: (answered in time,
    answered + abandoned)."""
    counts = [[0, 0] for _ in day_starts]
    for journey in journeys:
        joined = float(journey.get("joined_at") or 0)
        day = next((i for i in range(len(day_starts) - 1, -1, -1) if joined >= day_starts[i]), None)
        result = result_of(journey, service_level_s)
        if day is None or result not in ("answered_in_time", "answered_late", "abandoned"):
            continue
        counts[day][0] += result == "answered_in_time"
        counts[day][1] += 1
    return [(in_time, waited_out) for in_time, waited_out in counts]


def _figures(t: Counter[str], service_level_s: int) -> dict[str, Any]:
    waited_out = t["answered"] + t["abandoned"]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {"offered": t["offered"], "waiting": t["waiting"], "answered": t["answered"],
            "answered_in_time": t["answered_in_time"], "abandoned": t["abandoned"], "left": t["left"],
            "unknown": t["unknown"], "service_level_s": service_level_s,
            "service_level": share(t["answered_in_time"], waited_out),
            "average_speed_of_answer_s": round(t["wait_sum"] / t["answered"], 1) if t["answered"] else None,
            "abandonment": share(t["abandoned"], waited_out)}


def callback_figures(callbacks: Iterable[tuple[float, str]], *, since: float) -> dict[str, Any]:
    """Callbacks booked at ``since`` or later (``(booked at, state)``): how many, reached, failed, pending,
    and the success share of those that ended."""
    states = Counter(state for booked, state in callbacks if booked >= since)
    ended = states["done"] + states["failed"]
    return {"booked": sum(states.values()), "done": states["done"], "failed": states["failed"],
            "pending": sum(n for s, n in states.items() if s not in ("done", "failed")),
            "success": round(states["done"] / ended, 4) if ended else None}
