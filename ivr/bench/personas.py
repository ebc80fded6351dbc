"""``ivr bench personas``: simulated callers who behave like people, on the line with and without the
help for callers who need time (repeat, pause, slower speech, no dead time after a whole answer).

Each persona is a simulated call on the keypad against the shipped 34 00 flow (an embedded server,
the tracking stub): one searches for the paper for 40 s, one asks for repeats, one hesitates and
needs the line slower, one types fast over the prompts, one calls from abroad at 21:58 Paris time.
"Without" is the same flow with those defaults switched off (``repeat_key``, ``pause``,
``slower_key``, ``complete_answer_silence``): the line as it was before them. A persona does there
what a person does when the line offers nothing: keeps silent rather than pressing a key no prompt
offers. Reported per persona and line: the outcome, the seconds in the IVR (the simulator's clock:
prompts heard and waits, not machine time), the tries (questions asked again) and the failed tries.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..config import DEFAULT_FLOWS_DIR
from ..server.embedded import embedded_server
from ..sim.runner import CallResult, run_scenarios
from ..sim.scenario import Scenario
from ..yamlsrc import load_yaml, to_plain
from .progress import Progress

__all__ = ["PERSONAS", "Persona", "run_personas_bench", "without_help"]

#: A file number of the tracking stub's dataset (carte grise, produced).
NUMBER = "5458443881#"
#: An open Tuesday morning, Paris time.
MORNING = "2026-11-24T10:00:00+01:00"
#: The same Tuesday, two minutes before the line closes.
LATE = "2026-11-24T21:58:00+01:00"

SILENCE = {"kind": "silence"}


def press(digits: str, *, barge: bool = False) -> dict[str, Any]:
    """A simulator step: the caller presses ``digits`` (over the prompt with ``barge``)."""
    return {"kind": "press", "digits": digits, "barge": barge}


#: After the number: « c'est exact », « question résolue », the rating.
_END = [press("1"), press("1"), press("5")]

#: The defaults that make the line wait for, repeat and slow down for its callers, switched off.
_WITHOUT = {"repeat_key": None, "slower_key": None, "pause": {"key": None, "times": 0},
            "complete_answer_silence": None}


@dataclass(frozen=True)
class Persona:
    """A caller: what they do on the line as it is, and (``without``) where the line offers no key
    for what they need."""

    name: str
    description: str
    steps: list[Any]
    without: list[Any] | None = None
    at: str = MORNING
    caller: str = ""


PERSONAS = [
    Persona("cherche son papier",
            "Has no file number at hand: asks for time at the number question and comes back 40 s later.",
            [press("1"), press("1"), press("9"), SILENCE, SILENCE, press(NUMBER), *_END],
            without=[press("1"), press("1"), SILENCE, SILENCE, SILENCE, press(NUMBER), *_END]),
    Persona("fait répéter",
            "Does not catch the menu the first time, nor the number read back: asks to hear them again.",
            [press("*"), press("1"), press("1"), press(NUMBER), press("*"), *_END],
            without=[SILENCE, press("1"), press("1"), press(NUMBER), SILENCE, *_END]),
    Persona("lent, hésitant",
            "Hesitates at the first question, finds the line too fast, then answers at their pace.",
            [SILENCE, press("8"), press("1"), press("1"), press(NUMBER), *_END],
            without=[SILENCE, SILENCE, press("1"), press("1"), press(NUMBER), *_END]),
    Persona("tape vite",
            "Knows the line: types every answer over the prompts.",
            [press(d, barge=True) for d in ("1", "1", NUMBER, "1", "1", "5")]),
    Persona("depuis l'étranger, 21 h 58",
            "Calls from Belgium two minutes before the line closes, Paris time.",
            [press("1"), press("1"), press(NUMBER), *_END], at=LATE, caller="+32470123456"),
]


@dataclass
class Measure:
    """One persona's call on one line."""

    outcome: str
    seconds: float
    tries: int
    failed_tries: int
    repeats: int = 0
    pauses: int = 0


def _scenario(persona: Persona, line: str) -> Scenario:
    steps = persona.without if line == "without" and persona.without is not None else persona.steps
    call: dict[str, Any] = {"at": persona.at}
    if persona.caller:
        call["caller"] = persona.caller
    return Scenario.model_validate({"name": f"{persona.name} ({line})", "description": persona.description,
                                    "call": call, "steps": steps})


def _measure(result: CallResult) -> Measure:
    entries = (result.record or {}).get("recognition", [])
    return Measure(
        outcome=result.outcome,
        seconds=round(result.trace.channel.clock, 1),
        tries=sum(e.get("attempts", 0) for e in entries),
        failed_tries=sum(e.get("noinput", 0) + e.get("nomatch", 0) + e.get("invalid", 0) for e in entries),
        repeats=sum(e.get("repeats", 0) for e in entries),
        pauses=sum(e.get("pauses", 0) for e in entries),
    )


def without_help(flows_dir: Path, into: Path) -> Path:
    """A copy of ``flows_dir`` whose flows have the help for callers who need time switched off."""
    shutil.copytree(flows_dir, into, dirs_exist_ok=True)
    for path in into.glob("*.yaml"):
        data = to_plain(load_yaml(path))
        data["defaults"] = {**(data.get("defaults") or {}), **_WITHOUT}
        # JSON is YAML: the copy is read by the same loader and checker as the original.
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    return into


async def _run_line(flows_dir: Path, line: str) -> dict[str, Measure]:
    async with embedded_server(flows_dir=flows_dir) as srv:
        scenarios = [_scenario(p, line) for p in PERSONAS]
        results = await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, records=srv.memory_records, speed=0)
    return {p.name: _measure(r) for p, r in zip(PERSONAS, results, strict=True)}


async def run_personas_bench(flows_dir: Path = DEFAULT_FLOWS_DIR, *, progress: Progress = print) -> dict[str, Any]:
    """Every persona on the line with and without the help; returns the report."""
    with tempfile.TemporaryDirectory(prefix="ivr-personas-") as tmp:
        lines = {"with": await _run_line(flows_dir, "with"),
                 "without": await _run_line(without_help(flows_dir, Path(tmp) / "flows"), "without")}
    report: dict[str, Any] = {"bench": "personas", "personas": []}
    for p in PERSONAS:
        measured = {line: lines[line][p.name] for line in ("without", "with")}
        report["personas"].append({"persona": p.name, "description": p.description,
                                   **{line: asdict(m) for line, m in measured.items()}})
        progress(f"{p.name:28} " + " | ".join(
            f"{line}: {m.outcome:18} {m.seconds:6.1f} s {m.tries} tries ({m.failed_tries} failed)"
            for line, m in measured.items()))
    return report
