"""Call-centre indicators from the call records, for today, the last hour and the last 7 days.

The definitions (the README's "Indicators" section says the same, for operators):

* **calls**: every call the IVR answered.
* **closed**: calls that ended ``closed_hours``; they were never *offered* to the IVR's service.
* **short abandons**: callers who hung up before the IVR asked them anything (during the welcome).
  Counted and shown, but not offered: the caller never had the chance to be served.
* **offered** = calls − closed − short abandons.
* **containment** = self-served calls / offered.
* **transfer rate** = calls handed to an agent (``routed:*`` and ``error_routed``) / offered, broken
  down by queue and reason; **callbacks** (a call-back booked instead of waiting) are apart.
* **abandonment** = caller hang-ups after the first question / offered, broken down by the node
  the caller left from (short abandons appear there too, under the welcome nodes).
* **error rate** = ``error_routed`` calls / offered (the IVR failed and handed the caller on).
* **recognition success** = speech turns understood / speech turns. A speech turn is one where
  the caller spoke and the recogniser heard words; silence and keypad answers are not speech
  turns. *Understood* means the turn ended the question with an accepted answer (or an agent
  request). None when there was no speech turn at all (not 0: nothing failed).
* **satisfaction**, over the offered calls asked the 1–5 rating (the question whose slot is
  ``rating``): response rate = rated / asked, mean rating, share of 4–5 = ratings of 4 or 5 / ratings.
* **per segment** (the line's segment slot: the 34 00's title type; ``-`` when never said) and **per
  path** (the nodes in order, a question asked again counted once): offered, self-served,
  containment and satisfaction.

What happens after the IVR (queues, callbacks) and « once and done » are read from the store
(``ivr.admin.queue_kpis``, ``ivr.server.after_ivr``) and added to each window by the server.

Counts are kept in 5-minute buckets for 7 days, so the figures cost the same whatever the
traffic, "the last hour" means the buckets of the last 60 minutes (to the bucket), and "today"
starts at midnight in the line's time zone. At start the buckets are rebuilt from the records
file, so a restart keeps them. The full records of the last calls are kept (bounded) for the
per-call page.
"""

from __future__ import annotations

import json
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..calls.outcomes import Outcome
from ..calls.record import CallRecord

__all__ = ["Kpis", "Tally", "WINDOWS", "FUNNEL_COLUMNS", "ERROR_BANNER", "short_abandon", "offered"]

BUCKET_SECONDS = 300
KEEP_SECONDS = 7 * 86400
#: The windows every summary has, by key.
WINDOWS = ("today", "last_hour", "last_7_days")
#: Per node: calls that reached it, questions met with silence, answers not understood, callers who
#: hung up there, calls handed to an agent from there.
FUNNEL_COLUMNS = ("visits", "noinput", "nomatch", "hangups", "transfers")
#: The console shows an error banner when the last hour has at least this many ``error_routed``
#: calls and they are at least this share of the offered calls.
ERROR_BANNER = {"min_errors": 3, "min_rate": 0.05}


#: The slot of the rating question (1–5) whose answers make the satisfaction figures.
RATING_SLOT = "rating"
#: A segment's key when the caller never said it (hung up or went to an agent first).
UNSAID = "-"
#: Paths kept apart per window; the rarer ones are counted together under :data:`OTHER_PATHS`.
MAX_PATHS = 40
OTHER_PATHS = "(autres parcours)"


def path_taken(record: CallRecord) -> str:
    """The nodes a call went through, each once in a row (a question asked again is one step)."""
    steps = [node for i, node in enumerate(record.path) if i == 0 or record.path[i - 1] != node]
    return " > ".join(steps) or "-"


def answer_to(record: CallRecord, slot: str) -> str | None:
    """The answer the call gave to its question for ``slot`` (a closed question's: the record keeps those)."""
    return next((str(e["value"]) for e in record.recognition if e.get("slot") == slot and "value" in e), None)


def segment_of(record: CallRecord, segment: str | None) -> str:
    """The call's value of the line's segment slot (its title type), :data:`UNSAID` when it gave none."""
    return (answer_to(record, segment) if segment else None) or UNSAID


def segment_counts(record: CallRecord) -> Counter[str]:
    """An offered call's part in the segment figures: offered, self-served, asked to rate, rated, the rating."""
    counts: Counter[str] = Counter(offered=1, self_served=int(Outcome.of(record.outcome) is Outcome.SELF_SERVED))
    if any(entry.get("slot") == RATING_SLOT for entry in record.recognition):
        counts["rating_asked"] += 1
        rating = answer_to(record, RATING_SLOT) or ""
        if rating in ("1", "2", "3", "4", "5"):
            counts.update(rated=1, rating_sum=int(rating), rating_top=int(int(rating) >= 4))
    return counts


def _satisfaction(counts: Counter[str]) -> dict[str, Any]:
    """The rating figures: asked, rated, response rate, mean, share of 4–5 (None without a rating)."""
    rated = counts["rated"]
    return {"asked": counts["rating_asked"], "rated": rated,
            "response_rate": round(rated / counts["rating_asked"], 4) if counts["rating_asked"] else None,
            "mean": round(counts["rating_sum"] / rated, 2) if rated else None,
            "top_share": round(counts["rating_top"] / rated, 4) if rated else None}


def segment_figures(counts: Counter[str]) -> dict[str, Any]:
    """Offered, self-served, containment and satisfaction from a segment's counts."""
    return {"offered": counts["offered"], "self_served": counts["self_served"],
            "containment": round(counts["self_served"] / counts["offered"], 4) if counts["offered"] else None,
            "satisfaction": _satisfaction(counts)}


def short_abandon(record: CallRecord) -> bool:
    """The caller hung up before the IVR asked anything (during the welcome)."""
    asked = record.questions or len(record.recognition)  # records written before ``questions``
    return Outcome.of(record.outcome) is Outcome.CALLER_HANGUP and not asked


def offered(record: CallRecord) -> bool:
    """The call was offered to the IVR's service: not closed, not a short abandon."""
    return Outcome.of(record.outcome) is not Outcome.CLOSED_HOURS and not short_abandon(record)


@dataclass
class Tally:
    """The counts of a set of calls; tallies of disjoint sets add up (:meth:`merge`)."""

    calls: int = 0
    closed: int = 0
    short_abandons: int = 0
    self_served: int = 0
    routed: int = 0
    callbacks: int = 0
    errors: int = 0
    abandons: int = 0
    speech_turns: int = 0
    speech_understood: int = 0
    answers_speech: int = 0
    answers_keypad: int = 0
    ivr_ms: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    transfers: Counter[tuple[str, str]] = field(default_factory=Counter)
    abandon_nodes: Counter[str] = field(default_factory=Counter)
    funnel: dict[str, Counter[str]] = field(default_factory=dict)
    #: Offered calls, self-served ones and satisfaction counts (:data:`SEGMENT_COUNTS`), for all calls
    #: (key ``""``), per value of the line's segment slot (the title type), and per path taken.
    segments: dict[str, Counter[str]] = field(default_factory=dict)
    paths: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, record: CallRecord, segment: str | None = None) -> None:
        """Count one ended call (``segment``: the slot whose answer splits the figures)."""
        outcome = Outcome.of(record.outcome)
        if offered(record):
            counts = segment_counts(record)
            self._counts(self.segments, "").update(counts)
            if segment:
                self._counts(self.segments, segment_of(record, segment)).update(counts)
            self._counts(self.paths, path_taken(record), limit=MAX_PATHS).update(counts)
        self.calls += 1
        self.outcomes[record.outcome] += 1
        self.ivr_ms += record.duration_ms
        if outcome is Outcome.CLOSED_HOURS:
            self.closed += 1
        elif outcome is Outcome.SELF_SERVED:
            self.self_served += 1
        elif outcome is Outcome.CALLBACK:
            self.callbacks += 1
        elif outcome is not None and outcome.to_agent:
            self.routed += 1
            self.errors += outcome is Outcome.ERROR_ROUTED
            self.transfers[(record.queue or "-", record.reason or "-")] += 1
            if record.path:
                self._node(record.path[-1])["transfers"] += 1
        elif outcome is Outcome.CALLER_HANGUP:
            if short_abandon(record):
                self.short_abandons += 1
            else:
                self.abandons += 1
            node = record.hangup_node or (record.path[-1] if record.path else "-")
            self.abandon_nodes[node] += 1
            self._node(node)["hangups"] += 1
        for node in dict.fromkeys(record.path):  # calls that reached the node, once per call
            self._node(node)["visits"] += 1
        for entry in record.recognition:
            # A question's own sub-questions ("titre.rappel") count with the node that asked them.
            counts = self._node(str(entry.get("node", "-")).split(".")[0])
            counts["noinput"] += int(entry.get("noinput", 0))
            counts["nomatch"] += int(entry.get("nomatch", 0))
            self.speech_turns += int(entry.get("speech", 0))
            self.speech_understood += int(entry.get("speech_ok", 0))
            mode = entry.get("mode")
            self.answers_speech += mode == "speech"
            self.answers_keypad += mode == "dtmf"

    def _node(self, node: str) -> Counter[str]:
        return self._counts(self.funnel, node)

    @staticmethod
    def _counts(table: dict[str, Counter[str]], key: str, limit: int | None = None) -> Counter[str]:
        """``table``'s counts for ``key`` (beyond ``limit`` keys, those of :data:`OTHER_PATHS`)."""
        counts = table.get(key)
        if counts is None:
            if limit is not None and len(table) >= limit:
                key = OTHER_PATHS
            counts = table.setdefault(key, Counter())
        return counts

    def merge(self, other: "Tally") -> None:
        """Add another tally's counts to this one (a longer window from shorter ones)."""
        for name in ("calls", "closed", "short_abandons", "self_served", "routed", "callbacks", "errors",
                     "abandons", "speech_turns", "speech_understood", "answers_speech", "answers_keypad", "ivr_ms"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)
        self.transfers.update(other.transfers)
        self.abandon_nodes.update(other.abandon_nodes)
        for node, counts in other.funnel.items():
            self._node(node).update(counts)
        for key, counts in other.segments.items():
            self._counts(self.segments, key).update(counts)
        for key, counts in other.paths.items():
            self._counts(self.paths, key, limit=MAX_PATHS).update(counts)

    @property
    def offered(self) -> int:
        """Calls that reached the menu: all but those while closed and the short abandons."""
        return self.calls - self.closed - self.short_abandons

    def summary(self) -> dict[str, Any]:
        """The indicators as the console and ``/kpis`` show them."""
        offered = self.offered

        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        answered = self.answers_speech + self.answers_keypad
        return {
            "calls": self.calls,
            "closed": self.closed,
            "short_abandons": self.short_abandons,
            "offered": offered,
            "self_served": self.self_served,
            "containment": share(self.self_served, offered),
            "transferred": self.routed,
            "transfer_rate": share(self.routed, offered),
            "callbacks": self.callbacks,
            "abandoned": self.abandons,
            "abandonment": share(self.abandons, offered),
            "errors": self.errors,
            "error_rate": share(self.errors, offered),
            "speech_turns": self.speech_turns,
            "recognition_success": share(self.speech_understood, self.speech_turns),
            "answers": {"speech": self.answers_speech, "keypad": self.answers_keypad},
            "keypad_share": share(self.answers_keypad, answered),
            "mean_ivr_seconds": round(self.ivr_ms / self.calls / 1000, 1) if self.calls else None,
            "outcomes": dict(sorted(self.outcomes.items())),
            "transfers": [{"queue": q, "reason": r, "calls": n} for (q, r), n in self.transfers.most_common()],
            "abandon_points": dict(self.abandon_nodes.most_common()),
            "funnel": {node: {c: counts[c] for c in FUNNEL_COLUMNS} for node, counts in self.funnel.items()},
            "satisfaction": _satisfaction(self.segments.get("", Counter())),
            "by_segment": {key: segment_figures(counts) for key, counts in sorted(self.segments.items()) if key},
            "by_path": [{"path": key, **segment_figures(counts)}
                        for key, counts in sorted(self.paths.items(), key=lambda kv: -kv[1]["offered"])],
        }


class Kpis:
    """Tallies call records as they are written (a record store), by 5-minute bucket, for 7 days."""

    def __init__(self, *, timezone_name: str = "Europe/Paris", keep_records: int = 2000,
                 clock: Callable[[], float] = time.time, segment: str | None = None) -> None:
        self.zone = ZoneInfo(timezone_name)
        #: The slot whose answer splits containment and satisfaction (the line profile's ``segment``).
        self.segment = segment
        self.clock = clock
        self._buckets: dict[int, Tally] = {}
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.keep_records = keep_records

    # -- the record store interface --------------------------------------------------------------

    def write(self, record: CallRecord) -> bool:
        """Count a finished call; False when it ended more than 7 days ago (not kept)."""
        at = _instant(record.ended_at or record.started_at) or self.clock()
        if at < self.clock() - KEEP_SECONDS:
            return False
        bucket = int(at // BUCKET_SECONDS)
        tally = self._buckets.get(bucket)
        if tally is None:
            tally = self._buckets[bucket] = Tally()
            self._prune()
        tally.add(record, self.segment)
        self._records[record.call_id] = asdict(record)
        self._records.move_to_end(record.call_id)
        while len(self._records) > self.keep_records:
            self._records.popitem(last=False)
        return True

    def close(self) -> None:
        """Nothing to release (a record store's method)."""
        pass

    # -- what the console reads ------------------------------------------------------------------

    @property
    def recent(self) -> list[dict[str, Any]]:
        """The full records of the last calls (at most ``keep_records``), oldest first."""
        return list(self._records.values())

    def record(self, call_id: str) -> dict[str, Any] | None:
        """A recent call's record, or None once it has left the window."""
        return self._records.get(call_id)

    def window_start(self, name: str) -> float:
        """When one of :data:`WINDOWS` begins (seconds since the epoch; "the last hour" to the bucket)."""
        now = self.clock()
        if name == "last_hour":
            return (now - 3600) // BUCKET_SECONDS * BUCKET_SECONDS
        if name == "today":
            local = datetime.fromtimestamp(now, self.zone)
            return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        if name == "last_7_days":
            return now - KEEP_SECONDS
        raise ValueError(f"unknown window {name!r}: {', '.join(WINDOWS)}")

    def window(self, name: str) -> Tally:
        """The tally of one of :data:`WINDOWS`."""
        first = int(self.window_start(name) // BUCKET_SECONDS)
        total = Tally()
        for bucket, tally in self._buckets.items():
            if bucket >= first:
                total.merge(tally)
        return total

    def summary(self, after_ivr: Callable[[str, float], dict[str, Any]] | None = None) -> dict[str, Any]:
        """Every window's figures, the definitions' version, and whether the error banner is up;
        ``after_ivr(window, since)``: the figures read from the store (queues, callbacks, once and done)
        for a window starting at ``since``, added to it."""
        windows = {name: self.window(name).summary() for name in WINDOWS}
        if after_ivr is not None:
            for name, figures in windows.items():
                figures.update(after_ivr(name, self.window_start(name)))
        hour = windows["last_hour"]
        banner = (hour["errors"] >= ERROR_BANNER["min_errors"]
                  and (hour["error_rate"] or 0) >= ERROR_BANNER["min_rate"])
        return {"timezone": str(self.zone), "windows": windows, "error_banner": banner,
                "generated_at": datetime.fromtimestamp(self.clock(), timezone.utc).isoformat(timespec="seconds")}

    def days(self, count: int = 7) -> list[tuple[str, float, Tally]]:
        """The last ``count`` days in the line's time zone, oldest first: (the day, when it starts, its tally)."""
        today = datetime.fromtimestamp(self.clock(), self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        starts = [(today - timedelta(days=back)) for back in range(count - 1, -1, -1)]
        # Midnight of each day as the zone has it (a daylight-saving day is 23 or 25 hours long): the
        # zone's offset is worked out for each date.
        bounds = [d.timestamp() for d in starts]
        tallies = [Tally() for _ in bounds]
        for bucket, tally in self._buckets.items():
            at = bucket * BUCKET_SECONDS
            for i in range(len(bounds) - 1, -1, -1):
                if at >= bounds[i]:
                    tallies[i].merge(tally)
                    break
        return [(d.date().isoformat(), bound, tally) for d, bound, tally in zip(starts, bounds, tallies, strict=True)]

    def _prune(self) -> None:
        oldest = int((self.clock() - KEEP_SECONDS) // BUCKET_SECONDS)
        for bucket in [b for b in self._buckets if b < oldest]:
            del self._buckets[bucket]

    # -- rebuilding after a restart --------------------------------------------------------------

    def load_jsonl(self, path: str | Path, *, max_bytes: int = 256 << 20) -> int:
        """Rebuild from a call-records file (its last ``max_bytes``, streamed), so a restart keeps the
        figures. Records older than 7 days and damaged lines are skipped; returns the records kept."""
        path = Path(path)
        if not path.exists():
            return 0
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size > max_bytes:
                f.seek(size - max_bytes)
                f.readline()  # skip the partial first line
            return self._load_lines(f)

    def _load_lines(self, lines: Iterable[bytes]) -> int:
        fields = set(CallRecord.__dataclass_fields__)
        count = 0
        for line in lines:
            try:
                raw = json.loads(line)
                record = CallRecord(**{k: v for k, v in raw.items() if k in fields})
            except (ValueError, TypeError):
                continue  # a damaged line does not stop the dashboard
            count += self.write(record)
        return count


def _instant(text: str) -> float | None:
    try:
        when = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()

