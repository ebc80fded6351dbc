"""Call scenarios: what a simulated caller does and what the call must show.

A scenario file is YAML::

    name: carte grise au clavier
    call: {request: ants-3400, caller: "0612345678", at: "2026-11-24T10:00:00+01:00"}
                              # caller: default, a number derived from the name
                              # noise: {kind: car, rms: 1000}: a noisy line (spoken questions)
    steps:
      - press: "1"            # keys typed when the IVR next listens
      - press: {digits: "2", barge: true}   # typed during the prompt
      - silence               # says nothing when the IVR next listens
      - say: carte grise      # speaks (text synthesised offline, or {audio: file.wav})
      - wait: 3               # does nothing for 3 s (virtual time)
      - hangup                # hangs up while the IVR next plays or listens
      - hangup: between       # hangs up between two commands (Asterisk sends HANGUP)
      - hangup: eof           # the connection drops in the middle of the next command
    expect:
      prompts: [bienvenue, menu_titre]     # played in this order (others may come between)
      not_prompts: [desole_erreur]
      variables: {IVR_QUEUE: contractor}
      outcome: routed:contractor
      whole_answers: [numero]              # answered by speech with no wait after it (call record)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..yamlsrc import SourceError, load_yaml, to_plain, validation_messages

__all__ = [
    "Scenario",
    "CallSetup",
    "NoticeSetup",
    "LineNoiseSetup",
    "Press",
    "Silence",
    "Say",
    "Wait",
    "Hangup",
    "Expect",
    "ScenarioError",
    "load_scenario",
    "load_scenarios",
]


class ScenarioError(ValueError):
    """A scenario file is invalid; the message names the file (and line when known)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Press(_Model):
    """The caller presses keys."""

    kind: Literal["press"] = "press"
    digits: str
    barge: bool = False

    @field_validator("digits")
    @classmethod
    def _keys(cls, v: str) -> str:
        if not v or any(ch not in "0123456789*#ABCD" for ch in v):
            raise ValueError(f"keys must be among 0-9 * # A-D, got {v!r}")
        return v


class Silence(_Model):
    """The caller says nothing."""

    kind: Literal["silence"] = "silence"


class Say(_Model):
    """The caller speaks (text, or a WAV file)."""

    kind: Literal["say"] = "say"
    text: str | None = None
    audio: str | None = None
    barge: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> "Say":
        if (self.text is None) == (self.audio is None):
            raise ValueError("say needs either a text or an audio file")
        return self


class Wait(_Model):
    """The caller waits before the next step."""

    kind: Literal["wait"] = "wait"
    seconds: float = Field(ge=0)


class Hangup(_Model):
    """The caller hangs up (during a prompt, between prompts, or when the steps run out)."""

    kind: Literal["hangup"] = "hangup"
    when: Literal["during", "between", "eof"] = "during"


Step = Annotated[Union[Press, Silence, Say, Wait, Hangup], Field(discriminator="kind")]


class NoticeSetup(_Model):
    """A closure notice in force for this call: switched on (through the IVR's admin API) around the
    call's moment only, so that no other call hears it, and switched off after the run."""

    text: str = Field(min_length=1)
    #: The notice closes the line (goodbye after it) rather than being read before the menu.
    closes: bool = False


class LineNoiseSetup(_Model):
    """Noise on the caller's line from the first frame to the last, under their voice too (a car, a
    street): ``{kind: car, rms: 1000}``; the kinds are ``ivr.sim.noise``'s."""

    kind: Literal["white", "pink", "brown", "car", "babble"]
    #: 16-bit RMS (a caller's voice is around 1,000 – 3,000).
    rms: float = Field(1000.0, gt=0, le=8000)


class CallSetup(_Model):
    """The call itself: the flow, the caller's number, when it happens."""

    request: str = "ants-3400"
    #: The caller's number; unset, a mobile number derived from the scenario's name, so that
    #: scenarios do not share a caller's history (the daily call count gives priority to a
    #: third call) and their results do not depend on the order they run in.
    caller: str = ""
    caller_name: str = "unknown"
    #: Asterisk's calling presentation (``agi_callingpres``): 0 allowed, 32 restricted (a withheld number).
    presentation: int = Field(0, ge=0, le=255)
    channel: Literal["PJSIP", "Local"] = "PJSIP"
    language: str = "fr"
    args: list[str] = Field(default_factory=list)
    at: datetime | None = None
    #: Asterisk's id of the caller's channel (``agi_uniqueid``); unset, a new one. A request Asterisk
    #: makes later on the same channel (``keep-turn``, from the queue the call went to) sets it.
    uniqueid: str = Field("", pattern=r"^(\d{1,15}\.\d{1,10})?$")
    #: Hang up just before the IVR's N-th AGI command (1-based), whatever the steps say:
    #: lets a test sweep a hang-up over every point of a call.
    hangup_before_command: int | None = Field(None, ge=1)
    notice: NoticeSetup | None = None
    #: Noise on the line (heard over AudioSocket: spoken questions).
    noise: LineNoiseSetup | None = None

    @model_validator(mode="after")
    def _notice_has_its_moment(self) -> "CallSetup":
        if self.notice is not None and self.at is None:
            raise ValueError("a call with a notice needs `at`: the notice is in force around that moment only, "
                             "so that no other call hears it")
        return self


class Expect(_Model):
    """What the call must show: prompts heard or not, the outcome, the queue, variables."""

    prompts: list[str] = Field(default_factory=list)
    not_prompts: list[str] = Field(default_factory=list)
    variables: dict[str, str | None] = Field(default_factory=dict)
    outcome: str | None = None
    #: Questions (node ids) whose spoken answer was taken as soon as it was whole, without waiting for
    #: the silence that ends speech: read from the server's call record (so, an embedded server).
    whole_answers: list[str] = Field(default_factory=list)


class Scenario(_Model):
    """A simulated call: who calls, what they do, what must happen."""

    name: str
    description: str = ""
    call: CallSetup = Field(default_factory=CallSetup)
    steps: list[Step] = Field(default_factory=list)
    expect: Expect = Field(default_factory=Expect)
    source: str = ""

    @model_validator(mode="after")
    def _own_caller(self) -> "Scenario":
        if not self.call.caller:
            self.call.caller = caller_for(self.name)
        return self


def caller_for(name: str) -> str:
    """A stable French mobile number (06…) for a scenario name."""
    digest = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big")
    return f"06{digest % 10**8:08d}"


def _normalise_step(raw: object) -> object:
    """Accept the short forms (``silence``, ``press: "12"``, ``hangup: eof``, ``wait: 3``)."""
    if isinstance(raw, str):
        return {"kind": raw}
    if isinstance(raw, dict) and len(raw) == 1:
        (kind, value), = raw.items()
        if isinstance(value, dict):
            return {"kind": kind, **value}
        if kind == "press":
            return {"kind": kind, "digits": str(value)}
        if kind == "say":
            return {"kind": kind, "text": str(value)}
        if kind == "wait":
            return {"kind": kind, "seconds": value}
        if kind == "hangup":
            return {"kind": kind, "when": value or "during"}
        if value is None:
            return {"kind": kind}
    return raw


def load_scenario(path: str | Path) -> Scenario:
    """Load one scenario file; errors are :class:`ScenarioError` with file:line."""
    path = Path(path)
    try:
        data = load_yaml(path)
    except SourceError as exc:
        raise ScenarioError(str(exc)) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}:1: a scenario is a mapping with name, call, steps, expect")
    plain = to_plain(data)
    plain["steps"] = [_normalise_step(s) for s in plain.get("steps") or []]
    plain.setdefault("name", path.stem)
    plain["source"] = str(path)
    try:
        return Scenario.model_validate(plain)
    except ValidationError as exc:
        raise ScenarioError("\n".join(validation_messages(path, data, exc))) from None


def load_scenarios(paths: Sequence[str | Path]) -> list[Scenario]:
    """Load scenario files and folders (every ``*.yaml`` inside, sorted)."""
    out: list[Scenario] = []
    errors: list[str] = []
    for p in paths:
        p = Path(p)
        files = sorted(p.glob("*.yaml")) if p.is_dir() else [p]
        for f in files:
            try:
                out.append(load_scenario(f))
            except ScenarioError as exc:
                errors.append(str(exc))
            except OSError as exc:
                errors.append(f"{f}: {exc.strerror}")
    if errors:
        raise ScenarioError("\n".join(errors))
    return out
