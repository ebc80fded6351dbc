"""What a draft would change for the calls the line actually gets: the last recorded calls replayed
through it (issue 31, item 2).

Each call record says which questions the caller was asked and how each ended — the closed answer
itself (a title type, yes or no, a rating), the silences and the answers not understood before it,
an agent asked for — and what each lookup answered (its status and the closed-valued fields routing
reads). A replay runs the draft's flow from its start, at the call's own time of day, and answers
each question the draft asks with what the caller answered to the same question (the same node and
slot): the silences, then the answers not understood, then the answer. Lookups answer what they
answered; routing decides with the draft's rules, on no live queue state (the wait of that day is not
known). A file number, never recorded, is given as the profile's replay value: the lookup answers
what the real one answered anyway.

A call whose recorded answers do not fit the draft — a question the caller never answered, a value
the draft's question does not offer, a flow the draft removed, a lookup recorded before records kept
its fields — is counted and listed with the reason, never guessed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..calls.call import Call
from ..calls.outcomes import Outcome
from ..edges.agi.errors import CallerHungUp
from ..engine.interpreter import FlowRunner
from ..engine.services import EngineServices
from ..engine.template import FILTERS
from ..interfaces import AGENT, Answer, CallerChannel, LineProfile, LookupResult, LookupSpec, Question
from ..notices import Notice
from ..routing.router import RulesRouter
from ..store.postgres import PostgresStore
from .line import LineConfig

__all__ = ["Ending", "Replayed", "PreviewReport", "preview", "last_records", "MAX_CALLS"]


@dataclass(frozen=True)
class Ending:
    """How a call ended: its outcome, and the queue and reason when it went to an agent."""

    outcome: str
    queue: str = ""
    reason: str = ""

    def as_dict(self) -> dict[str, str]:
        """The ending as JSON."""
        return {"outcome": self.outcome, "queue": self.queue, "reason": self.reason}


@dataclass(frozen=True)
class Replayed:
    """One recorded call through the draft: how it ended, how it would end (None: it does not fit)."""

    call_id: str
    started_at: str
    before: Ending
    after: Ending | None
    #: Why the recorded answers do not fit the draft (empty when they do).
    unfit: str = ""

    @property
    def changed(self) -> bool:
        """Whether the draft ends the call otherwise."""
        return self.after is not None and self.after != self.before

    def as_dict(self) -> dict[str, Any]:
        """The call as JSON."""
        return {"call_id": self.call_id, "started_at": self.started_at, "before": self.before.as_dict(),
                "after": self.after.as_dict() if self.after else None, "unfit": self.unfit}


@dataclass
class PreviewReport:
    """The calls replayed, and what moves in total."""

    calls: list[Replayed] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def fitting(self) -> list[Replayed]:
        """The calls the draft could replay."""
        return [c for c in self.calls if c.after is not None]

    @property
    def unfit(self) -> list[Replayed]:
        """The calls whose recorded answers do not fit the draft."""
        return [c for c in self.calls if c.after is None]

    @property
    def per_second(self) -> float:
        """Calls replayed per second."""
        return len(self.calls) / self.seconds if self.seconds > 0 else 0.0

    def totals(self) -> dict[str, Any]:
        """Over the calls that fit: containment before and after, the transfers per queue and reason
        before and after (only those that move), how many calls end otherwise; and how many do not fit."""
        fit = self.fitting
        before = Counter(_transfer(c.before) for c in fit)
        after = Counter(_transfer(c.after) for c in fit if c.after is not None)
        moved = {key: {"before": before[key], "after": after[key]} for key in sorted(set(before) | set(after))
                 if key and before[key] != after[key]}
        return {"calls": len(self.calls), "replayed": len(fit), "unfit": len(self.unfit),
                "changed": sum(c.changed for c in fit),
                "containment": {"before": _containment(c.before for c in fit),
                                "after": _containment(c.after for c in fit if c.after is not None)},
                "transfers": moved, "per_second": round(self.per_second, 1)}

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON: the totals, then each call that changes or does not fit."""
        return {**self.totals(), "changes": [c.as_dict() for c in self.calls if c.changed],
                "unfit_calls": [c.as_dict() for c in self.unfit]}


def _transfer(ending: Ending | None) -> str:
    return f"{ending.queue} / {ending.reason}" if ending is not None and ending.queue else ""


def _containment(endings: Iterable[Ending]) -> float | None:
    """Self-served / calls the line was open for (closed calls are not offered)."""
    offered = [e for e in endings if e.outcome not in (Outcome.CLOSED_HOURS.value,)]
    served = sum(e.outcome == Outcome.SELF_SERVED.value for e in offered)
    return round(served / len(offered), 4) if offered else None


class Unfit(Exception):
    """The recorded call cannot answer what the draft asks."""


async def preview(config: LineConfig, profile: LineProfile, lookups: Mapping[str, LookupSpec],
                  records: Iterable[Mapping[str, Any]]) -> PreviewReport:
    """Replay ``records`` (oldest first) through ``config``; what each call and the totals would become."""
    report = PreviewReport()
    started = time.perf_counter()
    for record in records:
        report.calls.append(await _replay(config, profile, lookups, record))
        await asyncio.sleep(0)  # a long preview never holds the event loop a live call waits on
    report.seconds = time.perf_counter() - started
    return report


async def _replay(config: LineConfig, profile: LineProfile, lookups: Mapping[str, LookupSpec],
                  record: Mapping[str, Any]) -> Replayed:
    before = Ending(str(record.get("outcome", "")), str(record.get("queue") or ""), str(record.get("reason") or ""))
    call_id, started_at = str(record.get("call_id", "")), str(record.get("started_at", ""))
    try:
        after = await _run(config, profile, lookups, record)
    except Unfit as exc:
        return Replayed(call_id, started_at, before, None, str(exc))
    except Exception as exc:  # the draft's flow fails on this call: on the line, the caller would go to an agent
        after = Ending(Outcome.ERROR_ROUTED.value, profile.fallback_queue, f"error: {type(exc).__name__}: {exc}"[:200])
    return Replayed(call_id, started_at, before, after)


async def _run(config: LineConfig, profile: LineProfile, lookups: Mapping[str, LookupSpec],
               record: Mapping[str, Any]) -> Ending:
    loaded = config.flows.get(str(record.get("flow", "")))
    if loaded is None:
        raise Unfit(f"the draft has no flow {record.get('flow')!r}")
    try:  # the time of day the line saw: a simulated call's own, else when the call came
        now = datetime.fromisoformat(str(record.get("simulated_at") or record.get("started_at")))
    except ValueError:
        raise Unfit("the record has no start time") from None
    hung_up = record.get("outcome") == Outcome.CALLER_HANGUP.value
    #: What a lookup could not replay (a lookup's failure is a branch of the flow: it is noted here).
    problems: list[str] = []
    answers = _Answers(record.get("recognition") or [], profile, hung_up)
    services = EngineServices(
        prompts=_NoPrompts(), spoken=_NoSentences(), listener=answers,
        router=RulesRouter(config.rules, profile.routing_facts),
        lookups={name: _RecordedLookup(name, spec, record.get("lookups") or [], problems)
                 for name, spec in lookups.items()},
        slots=profile.slots, filters={**FILTERS, **profile.filters}, validators=profile.validators,
        notice=_heard_notice(record.get("notice")))
    runner = FlowRunner(loaded.model, loaded.version, services)
    call = Call(_Line(), _Identity(str(record.get("request") or loaded.model.flow)),
                now=now if now.tzinfo else now.replace(tzinfo=timezone.utc))
    answers.call = call
    try:
        await runner.run(call)
    except CallerHungUp:
        if call.outcome is None:
            call.outcome = Outcome.CALLER_HANGUP
    if problems:
        raise Unfit(problems[0])
    if call.outcome is None:
        raise Unfit("the draft's flow ended without an outcome")
    return Ending(call.outcome_text, call.record.queue, call.record.reason)


def _heard_notice(heard: object) -> Callable[[datetime], Notice | None]:
    """The closure notice the caller heard, heard again (its words do not matter here; whether it closed
    the line does)."""
    if not isinstance(heard, Mapping):
        return lambda now: None
    notice = Notice(int(heard.get("id") or 0), "", _EPOCH, None, bool(heard.get("closes")), "", _EPOCH)
    return lambda now: notice


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _Answers:
    """The listener of a replay: each question the draft asks gets what the caller answered to the same
    question (node and slot) of the recording: its silences, its answers not understood, then its answer."""

    def __init__(self, entries: Iterable[Mapping[str, Any]], profile: LineProfile, hung_up: bool) -> None:
        self.by_question: dict[tuple[str, str], deque[Mapping[str, Any]]] = defaultdict(deque)
        for entry in entries:
            self.by_question[(str(entry.get("node", "")), str(entry.get("slot", "")))].append(entry)
        self.profile = profile
        #: The caller hung up in the recording: a question after their last answer is where they left.
        self.hung_up = hung_up
        self.call: Call | None = None
        self._pending: deque[Answer] = deque()
        self._current: tuple[str, str] | None = None
        self._last = ""

    def offers_speech(self) -> bool:
        """Answers come as the recorded values, as if spoken."""
        return True

    async def ask(self, channel: CallerChannel, question: Question, typed_ahead: str | None = None) -> Answer:
        """The next answer the recording gives this question."""
        assert self.call is not None
        slot = question.slot.name if question.slot is not None else ""
        key = self._key(self.call.current_node, slot)
        if key != self._current or not self._pending:
            self._current = key
            self._pending = self._answers(key, question)
        return self._pending.popleft()

    def _key(self, node: str, slot: str) -> tuple[str, str]:
        if self._current is not None and self._current[0] == node and self._current[1] == slot \
                and not self._pending and not self.by_question[self._current]:
            # The same question again with nothing left to answer: the draft did not take the answer.
            raise Unfit(f"the draft does not take the caller's answer at {node} ({self._last})")
        """The recorded question this one is: the same node (or its sub-question, ``numero.confirm``) and slot."""
        for candidate, entries in self.by_question.items():
            if entries and candidate[1] == slot and (candidate[0] == node or candidate[0].startswith(node + ".")):
                return candidate
        if self.hung_up:
            raise CallerHungUp(f"the caller had left before {node}")
        raise Unfit(f"the draft asks {node} ({slot or 'no slot'}), which the caller was never asked")

    def _answers(self, key: tuple[str, str], question: Question) -> deque[Answer]:
        entry = self.by_question[key].popleft()
        self._last = str(entry.get("value", "no value kept"))
        misses = [Answer("none")] * int(entry.get("noinput") or 0) \
            + [Answer("speech", text="", value=None)] * int(entry.get("nomatch") or 0)
        return deque([*misses, self._final(entry, key, question)])

    def _final(self, entry: Mapping[str, Any], key: tuple[str, str], question: Question) -> Answer:
        if "value" in entry:
            return Answer("speech", text=str(entry["value"]), value=entry["value"])
        slot = question.slot
        if slot is not None and slot.digits and (entry.get("mode") in ("dtmf", "speech")):
            sample = self.profile.replay_values.get(slot.name)
            if sample is None:
                raise Unfit(f"no replay value for slot {slot.name!r} (the profile's replay_values)")
            return Answer("dtmf", digits=sample)
        tried = int(entry.get("attempts") or 0)
        missed = int(entry.get("noinput") or 0) + int(entry.get("nomatch") or 0) + int(entry.get("invalid") or 0)
        if tried > missed:  # answered, yet with no value kept: an agent asked for
            return Answer("speech", text="conseiller", value=AGENT)
        if self.hung_up and not self.by_question[key]:
            raise CallerHungUp(f"the caller left at {key[0]}")
        return Answer("none")


class _RecordedLookup:
    """A lookup service that answers, call by call, what the recording says it answered."""

    def __init__(self, name: str, spec: LookupSpec, recorded: Iterable[Mapping[str, Any]], problems: list[str]) -> None:
        self.name = name
        self.problems = problems
        self.statuses = set(spec.statuses)
        self.arguments = spec.arguments
        self.fields = spec.fields
        self.values: Mapping[str, frozenset[str]] = dict(spec.values)
        self.timeout = spec.timeout
        self.answers = deque(r for r in recorded if r.get("service") == name)

    async def lookup(self, **args: str) -> LookupResult:
        """The recorded answer (an error the recording saw is an error again)."""
        if not self.answers:
            return self._cannot(f"the draft looks {self.name} up more often than the call did")
        answer = self.answers.popleft()
        status = str(answer.get("status", ""))
        if status not in self.statuses:
            raise RuntimeError(f"the lookup failed in the recording ({status})")
        if "fields" not in answer:
            return self._cannot("recorded before call records kept what lookups answered")
        return LookupResult(status, {**answer["fields"], "readback": ""})


    def _cannot(self, why: str) -> LookupResult:
        """Note why the call cannot be replayed; the flow goes on (its result is set aside)."""
        self.problems.append(why)
        raise RuntimeError(why)


class _NoPrompts:
    """The catalog in a replay: nothing is played, any prompt has a path."""

    def playback_path(self, prompt_id: str, *, slow: bool = False) -> str:
        return prompt_id


class _NoSentences:
    """Sentences in a replay (a status read back): nothing is rendered."""

    async def playback_path(self, text: str, *, slow: bool = False) -> str:
        return "replay"


@dataclass(frozen=True)
class _Nothing:
    """A prompt played to its end, keys not typed, a recording not made."""

    digit: str | None = None
    digits: str = ""
    timed_out: bool = True


class _Line:
    """The caller's channel in a replay: it plays nothing, hears no key, and never hangs up by itself."""

    reply_timeout = 5.0
    hung_up = False

    def __init__(self) -> None:
        self.variables: dict[str, str] = {}
        self._never = asyncio.Event()

    async def wait_hangup(self) -> None:
        await self._never.wait()

    async def answer(self) -> None:
        return None

    async def stream_file(self, path: str, escape_digits: str = "", *, max_seconds: float | None = None) -> _Nothing:
        return _Nothing()

    async def get_data(self, prompt: str, timeout_ms: int, max_digits: int) -> _Nothing:
        return _Nothing()

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        return None

    async def exec(self, app: str, *args: str, timeout: float | None = None) -> int:
        return 0

    async def record_file(self, path: str, fmt: str = "wav", escape_digits: str = "#", timeout_ms: int = 10000,
                          *, beep: bool = False, silence_s: int | None = None) -> _Nothing:
        return _Nothing()

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def verbose(self, message: str, level: int = 1) -> None:
        return None

    async def hangup(self) -> None:
        return None


@dataclass(frozen=True)
class _Identity:
    """A replayed call's identity: the caller is withheld (the record keeps no number)."""

    request: str
    caller_number: str = ""
    caller_withheld: bool = True
    uniqueid: str = ""
    channel: str = "Replay/preview"
    sip_call_id: str = ""


#: The most recorded calls a preview replays.
MAX_CALLS = 5_000


async def last_records(count: int, *, since: float | None, records_file: Path | None,
                       store: PostgresStore | None) -> list[dict[str, Any]]:
    """The last ``count`` call records (oldest first) ended at ``since`` (epoch) or later: every node's from
    the shared store (PostgreSQL), else this node's records file."""
    count = max(1, min(count, MAX_CALLS))
    if store is not None:
        return await store.last_records(count, ended_after=since)
    if records_file is None:
        return []
    found = await asyncio.to_thread(_tail, records_file, count)
    return [r for r in found if since is None or _ended(r) >= since]


def _ended(record: Mapping[str, Any]) -> float:
    try:
        return datetime.fromisoformat(str(record.get("ended_at") or record.get("started_at"))).timestamp()
    except ValueError:
        return 0.0


def _tail(path: Path, count: int, block: int = 1 << 20) -> list[dict[str, Any]]:
    """The last ``count`` JSON lines of ``path`` (read from its end, a block at a time), oldest first; a
    line that is not a record is skipped."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            end = f.tell()
            data = b""
            while end > 0 and data.count(b"\n") <= count:
                start = max(0, end - block)
                f.seek(start)
                data = f.read(end - start) + data
                end = start
    except OSError:
        return []
    out: list[dict[str, Any]] = []
    for line in data.splitlines()[-count:]:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out
