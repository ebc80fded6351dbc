"""Runs scenarios as calls, checks their expectations, renders transcripts."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ..calls.record import MemoryRecordStore
from ..waiting import DEADLINE, ConditionTimeout, until
from .channel import Reply, SimChannel
from .gate import PromptGate
from .notices import NO_SWITCH, AdminNotices, scenario_notices
from .peer import CallTrace, place_call
from .scenario import Scenario

__all__ = ["CallResult", "run_scenarios", "render_transcript", "summarise", "percentile"]


@dataclass
class CallResult:
    """A simulated call's trace and how it met the scenario's expectations."""

    scenario: Scenario
    trace: CallTrace
    outcome: str
    failures: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        """The result as JSON (``ivr simulate --json``)."""
        ch = self.trace.channel
        return {
            "scenario": self.scenario.name,
            "source": self.scenario.source,
            "passed": self.passed,
            "failures": self.failures,
            "outcome": self.outcome,
            "prompts": ch.prompts,
            "variables": ch.variables,
            "commands": ch.commands,
            "seconds": round(self.trace.seconds, 4),
            "virtual_seconds": round(ch.clock, 2),
            "transcript": [{"t": e.t, "who": e.who, "text": e.text} for e in ch.events],
        }


#: Seconds within which the IVR must let go of a channel whose caller hung up. The IVR notices at
#: once (Asterisk answers its next command with HANGUP/511); an IVR that only noticed at its next
#: timer would hold it for a question's timeout (6 s by default) or more. The margin below that is
#: for a busy machine: this checks an event with a deadline, it is not a speed target.
RELEASE_DEADLINE = 5.0


def _same_prompt(wanted: str, played: str) -> bool:
    """A keypad-only variant ``<id>_clavier`` stands for ``<id>`` (the same question without speech)."""
    return played == wanted or played == f"{wanted}_clavier"


def _is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(_same_prompt(p, s) for s in it) for p in wanted)


def observed_outcome(trace: CallTrace) -> str:
    """The outcome the call showed on the channel.

    The IVR sets ``IVR_OUTCOME`` when the caller is still there; a caller who
    hung up is seen by the simulator itself.
    """
    ch = trace.channel
    if "IVR_OUTCOME" in ch.variables:
        return ch.variables["IVR_OUTCOME"]
    if ch.dead and not ch.hung_up_by_ivr:
        return "caller_hangup"
    return "none"


def check(trace: CallTrace, record: dict[str, Any] | None = None) -> CallResult:
    """Compare a finished call with its scenario's expectations."""
    sc = trace.scenario
    ch = trace.channel
    failures: list[str] = []
    if trace.error:
        failures.append(trace.error)
    outcome = observed_outcome(trace)
    if record is not None:
        # The call record is the authority when the server runs embedded.
        if outcome not in ("none", record["outcome"]) and not (outcome == "caller_hangup"):
            failures.append(f"channel shows outcome {outcome!r} but the call record says {record['outcome']!r}")
        outcome = record["outcome"]
    exp = sc.expect
    if exp.outcome is not None and outcome != exp.outcome:
        failures.append(f"outcome {outcome!r}, expected {exp.outcome!r}")
    if exp.prompts and not _is_subsequence(exp.prompts, ch.prompts):
        failures.append(f"prompts {ch.prompts} do not contain {exp.prompts} in order")
    for p in exp.not_prompts:
        if any(_same_prompt(p, s) for s in ch.prompts):
            failures.append(f"prompt {p!r} was played but must not be")
    for name, value in exp.variables.items():
        got = ch.variables.get(name)
        if got != value:
            failures.append(f"variable {name}={got!r}, expected {value!r}")
    failures += _not_whole(exp.whole_answers, record)
    if ch.dead and not ch.hung_up_by_ivr:
        if ch.commands_after_hangup > 3:
            failures.append(f"the IVR sent {ch.commands_after_hangup} commands after the hang-up")
        if trace.close_after_hangup_s is not None and trace.close_after_hangup_s > RELEASE_DEADLINE:
            failures.append(f"the IVR kept the dead channel for {trace.close_after_hangup_s:.1f} s")
    return CallResult(sc, trace, outcome, failures, record)


def _not_whole(questions: list[str], record: dict[str, Any] | None) -> list[str]:
    """The expected whole answers the call record does not show as taken without a wait."""
    if not questions:
        return []
    if record is None:
        return ["whole_answers needs the server's call record (run against an embedded server)"]
    whole = {e.get("node") for e in record["recognition"] if e.get("ended") == "whole_answer"}
    return [f"the spoken answer to {q!r} was not taken as soon as it was whole" for q in questions if q not in whole]


async def run_scenarios(
    scenarios: list[Scenario],
    host: str,
    port: int,
    *,
    concurrency: int = 1,
    repeat: int = 1,
    records: MemoryRecordStore | None = None,
    audiosocket: Callable[[SimChannel, str], Reply] | None = None,
    speed: float = 1.0,
    classic: list[str] | None = None,
    classic_env: dict[str, str] | None = None,
    gate: PromptGate | None = None,
    notices: AdminNotices | None = None,
) -> list[CallResult]:
    """Run each scenario ``repeat`` times with at most ``concurrency`` calls at once.

    ``records`` (a list of call records kept by an embedded server) lets the
    outcome be checked against what the server recorded. ``speed`` is the
    pace of caller audio over AudioSocket (1.0 real time, 0 as fast as possible). ``gate`` holds
    the calls at a prompt until released (:class:`~ivr.sim.gate.PromptGate`). ``notices`` switches on
    the closure notices scenarios ask for (the IVR's admin API); without it those scenarios fail, saying so.
    """
    from .audio_peer import SimAudioSocket

    if audiosocket is None:
        audiosocket = SimAudioSocket(speed)
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(sc: Scenario) -> CallResult:
        async with sem:
            trace = await place_call(sc, host, port, audiosocket=audiosocket, classic=classic,
                                     classic_env=classic_env, gate=gate)
        record = None
        if records is not None and trace.env_sent:
            record = await _find_record(records, trace.uniqueid)
        result = check(trace, record)
        if sc.name in unmet:
            result.failures.insert(0, NO_SWITCH)
        return result

    async with scenario_notices(scenarios, notices) as unmet:
        jobs = [one(sc) for _ in range(repeat) for sc in scenarios]
        return list(await asyncio.gather(*jobs))


async def _find_record(records: MemoryRecordStore, uniqueid: str, wait: float = DEADLINE) -> dict[str, Any] | None:
    """The embedded server writes the record just after closing the socket: wait for it (every call
    that sent its environment block gets one; the deadline only counts for a server that broke that)."""
    def found() -> dict[str, Any] | None:
        return next((asdict(rec) for rec in reversed(records.records) if rec.uniqueid == uniqueid), None)

    try:
        return await until(found, f"the record of call {uniqueid}", timeout=wait, interval=0.01)
    except ConditionTimeout:
        return None


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1)))))
    return ordered[k]


def summarise(results: list[CallResult], wall_seconds: float) -> dict[str, Any]:
    """Calls, outcomes and the IVR's turn time (Asterisk's reply → the IVR's next command)."""
    turns = [t for r in results for t in r.trace.turn_seconds]
    outcomes: dict[str, int] = {}
    for r in results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return {
        "calls": len(results),
        "passed": sum(r.passed for r in results),
        "failed": sum(not r.passed for r in results),
        "outcomes": outcomes,
        "agi_commands": len(turns),
        "ivr_turn_ms_p50": round(percentile(turns, 50) * 1000, 3),
        "ivr_turn_ms_p95": round(percentile(turns, 95) * 1000, 3),
        "ivr_turn_ms_p99": round(percentile(turns, 99) * 1000, 3),
        "ivr_turn_ms_mean": round(statistics.fmean(turns) * 1000, 3) if turns else 0.0,
        "wall_seconds": round(wall_seconds, 3),
        "calls_per_second": round(len(results) / wall_seconds, 1) if wall_seconds else None,
        "failures": sorted({f for r in results for f in r.failures})[:5],
    }


_WHO = {"ivr": "IVR   ", "ast": "  ast ", "caller": "CALLER", "note": "   ·  "}


def render_transcript(result: CallResult) -> str:
    """A readable transcript of one call."""
    sc = result.scenario
    lines = [f"── {sc.name} ({'PASS' if result.passed else 'FAIL'}) — outcome {result.outcome}"]
    if sc.description:
        lines.append(f"   {sc.description}")
    for e in result.trace.channel.events:
        text = e.text.replace("\n", " ⏎ ")
        lines.append(f"   {e.t:7.2f}s {_WHO.get(e.who, e.who)} {text}")
    vars_ = result.trace.channel.variables
    if vars_:
        lines.append("   variables: " + ", ".join(f"{k}={v}" for k, v in sorted(vars_.items())))
    for f in result.failures:
        lines.append(f"   ✗ {f}")
    return "\n".join(lines)
