"""Routing rules (YAML, validated with file:line errors): which queue, overflow, priority, waiting.

What a rule can test (``when:``) is the line's routing facts (its profile) plus the generic
``reason`` (why the flow routes) and ``calls_today`` (the caller's calls of the day).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ..yamlsrc import SourceError, line_of, load_yaml, to_plain, validation_messages

__all__ = ["RoutingRules", "load_rules", "GENERIC_FACTS", "matches", "unproduced_values"]

#: Facts every line's rules can test, with the type of their values.
GENERIC_FACTS: dict[str, type] = {"reason": str, "calls_today": int}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_when(when: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    fields: Mapping[str, type] = (info.context or {}).get("facts", GENERIC_FACTS)
    for key, test in when.items():
        if key not in fields:
            raise ValueError(f"unknown field {key!r} (one of {', '.join(fields)})")
        if isinstance(test, dict):
            unknown = set(test) - {"at_least", "at_most"}
            if unknown or fields[key] is not int:
                raise ValueError(f"{key}: only numeric fields take at_least/at_most")
            for bound, value in test.items():
                _check_type(f"{key}.{bound}", value, int)
        else:
            for value in test if isinstance(test, list) else [test]:
                _check_type(key, value, fields[key])
    return when


_TYPE_NAMES = {int: "a number", bool: "true or false", str: "a word"}


def _check_type(where: str, value: Any, kind: type) -> None:
    """A rule compares a fact with ``value``: of another type, it would never match (or fail the call)."""
    if type(value) is kind or (kind is str and isinstance(value, str)):
        return
    hint = ""
    if kind is int and isinstance(value, str) and value.strip().lstrip("-").isdigit():
        hint = f": write {value.strip()} without quotes"
    elif kind is bool and isinstance(value, str) and value.lower() in ("yes", "no", "oui", "non", "true", "false"):
        hint = ": write true or false, without quotes"
    elif kind is str and isinstance(value, (int, bool)):
        hint = f": put it in quotes (\"{str(value).lower() if isinstance(value, bool) else value}\")"
    raise ValueError(f"{where}: {value!r} is not {_TYPE_NAMES.get(kind, kind.__name__)}{hint}")


class Rule(_Model):
    name: str
    when: dict[str, Any] = Field(default_factory=dict)
    queue: str
    reason: str | None = None

    @field_validator("when")
    @classmethod
    def _fields(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_when(v, info)


class Overflow(_Model):
    from_: str = Field(alias="from")
    to: str
    wait_above: int = Field(gt=0)
    unless: dict[str, Any] = Field(default_factory=dict)

    @field_validator("to")
    @classmethod
    def _elsewhere(cls, v: str, info: ValidationInfo) -> str:
        if v == info.data.get("from_"):
            raise ValueError(f"an overflow goes to another queue, not back to {v!r}")
        return v

    @field_validator("unless")
    @classmethod
    def _fields(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_when(v, info)


class Priority(_Model):
    when: dict[str, Any]
    priority: int = Field(ge=1, le=100)

    @field_validator("when")
    @classmethod
    def _fields(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return _check_when(v, info)


class Waiting(_Model):
    announce_above: int = Field(60, ge=0)
    callback_above: int = Field(300, ge=0)

    @field_validator("callback_above")
    @classmethod
    def _after_announcing(cls, v: int, info: ValidationInfo) -> int:
        announce = info.data.get("announce_above")
        if announce is not None and v < announce:
            raise ValueError(f"callback_above ({v} s) is below announce_above ({announce} s): callers would be "
                             f"offered a callback without being told how long the wait is")
        return v


class RoutingRules(_Model):
    """The routing rules file: queues, thresholds and rules, in order."""

    queues: list[str] = Field(min_length=1)
    #: The line's time zone: a caller's "calls today" count by this local day.
    timezone: str = "Europe/Paris"
    rules: list[Rule] = Field(min_length=1)
    overflow: list[Overflow] = Field(default_factory=list)
    priority: list[Priority] = Field(default_factory=list)
    waiting: Waiting = Waiting()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Europe/Paris)") from None
        return v

    @model_validator(mode="after")
    def _known_queues(self) -> "RoutingRules":
        if self.rules[-1].when:
            raise ValueError("the last rule must have no 'when': every caller needs a queue")
        return self


def matches(when: dict[str, Any], facts: dict[str, Any]) -> bool:
    """Whether every test of a rule's ``when`` holds on the call's facts."""
    for key, test in when.items():
        value = facts.get(key)
        if isinstance(test, dict):
            if value is None:
                return False
            if "at_least" in test and not value >= test["at_least"]:
                return False
            if "at_most" in test and not value <= test["at_most"]:
                return False
        elif isinstance(test, list):
            if value not in test:
                return False
        elif value != test:
            return False
    return True


def load_rules(path: str | Path, facts: Mapping[str, type] = GENERIC_FACTS, *,
               values: Mapping[str, Iterable[str]] | None = None,
               asterisk_queues: Collection[str] | None = None) -> RoutingRules:
    """Load and validate a rules file; raise :class:`SourceError` with every ``file:line`` problem at once.

    ``facts`` are the fields a rule may test (the line's routing facts and :data:`GENERIC_FACTS`);
    ``values`` the values some of them can take (a file's statuses, as the tracking service declares
    them): a rule testing another value could never match, so it is an error. ``asterisk_queues``:
    the queues Asterisk defines (``queues.conf``); a queue it lacks would hang callers up.
    """
    from pydantic import ValidationError

    path = Path(path)
    raw = load_yaml(path)
    if not isinstance(raw, dict):
        raise SourceError([f"{path}:1: routing rules are a mapping with queues and rules"])
    plain = to_plain(raw)
    errors: list[str] = []
    rules: RoutingRules | None = None
    try:
        rules = RoutingRules.model_validate(plain, context={"facts": {**GENERIC_FACTS, **facts}})
    except ValidationError as exc:
        errors += validation_messages(path, raw, exc)
    # Queue names are checked on the raw data too, so they are reported with shape errors.
    queues = plain.get("queues") if isinstance(plain.get("queues"), list) else []
    allowed = set(queues)
    if asterisk_queues is not None:
        errors += _check_asterisk_queues(path, raw, queues, set(asterisk_queues))
    refs = [(("rules", i, "queue"), r.get("queue")) for i, r in enumerate(plain.get("rules") or []) if isinstance(r, dict)]
    for i, o in enumerate(plain.get("overflow") or []):
        if isinstance(o, dict):
            refs += [(("overflow", i, "from"), o.get("from")), (("overflow", i, "to"), o.get("to"))]
    for loc, queue in refs:
        if isinstance(queue, str) and allowed and queue not in allowed:
            errors.append(f"{path}:{line_of(raw, loc) or 1}: {'.'.join(map(str, loc))}: "
                          f"{queue!r} is not a known queue ({', '.join(sorted(allowed))})")
    errors += _check_values(path, raw, plain, {k: set(v) for k, v in (values or {}).items()})
    if rules is not None:
        errors += _check_shadowed(path, raw, rules)
    if errors:
        raise SourceError(sorted(errors, key=_line_key))
    assert rules is not None
    return rules


def unproduced_values(path: Path, fact: str, produced: Collection[str]) -> list[str]:
    """Errors for every test of ``fact`` in the rules file at ``path`` on a value nothing produces
    (a reason no route node gives): that test could never match."""
    raw = load_yaml(path)
    known = set(produced)
    return [f"{path}:{line_of(raw, where) or 1}: {'.'.join(map(str, where))}: no flow hands a caller over with "
            f"{fact} {value!r}{_close(str(value), known)}: this test could never match (they give "
            f"{', '.join(sorted(known))})"
            for where, tested, value in _tested_values(to_plain(raw))
            if tested == fact and value is not None and str(value) not in known]


def _tested_values(plain: dict[str, Any]) -> Iterator[tuple[tuple[str, int, str, str], str, Any]]:
    """Every value a ``when``/``unless`` of the rules file compares a fact with: where (section,
    index, key, fact), the fact, the value (a list test gives each of its values)."""
    for section, key in (("rules", "when"), ("overflow", "unless"), ("priority", "when")):
        for i, entry in enumerate(plain.get(section) or []):
            tests = entry.get(key) if isinstance(entry, dict) else None
            for fact, test in (tests or {}).items() if isinstance(tests, dict) else ():
                for value in test if isinstance(test, list) else [test]:
                    yield (section, i, key, fact), fact, value


def _check_shadowed(path: Path, raw: Any, rules: RoutingRules) -> list[str]:
    """A rule every call it would match is matched by an earlier one (the first match wins) is dead."""
    errors = []
    for j, later in enumerate(rules.rules):
        for i, earlier in enumerate(rules.rules[:j]):
            if all(key in later.when and _covers(test, later.when[key]) for key, test in earlier.when.items()):
                errors.append(f"{path}:{line_of(raw, ('rules', j, 'name')) or line_of(raw, ('rules', j)) or 1}: "
                              f"rules.{j}: rule {later.name!r} can never match: rule {earlier.name!r} (line "
                              f"{line_of(raw, ('rules', i)) or '?'}) matches every call it would, and the first "
                              f"match wins; put it first, or narrow {earlier.name!r}")
                break
    return errors


def _covers(test: Any, other: Any) -> bool:
    """Whether every value ``other`` accepts, ``test`` accepts too."""
    if isinstance(test, dict) and isinstance(other, dict):
        low, high = test.get("at_least"), test.get("at_most")
        return (low is None or (other.get("at_least") is not None and other["at_least"] >= low)) and \
            (high is None or (other.get("at_most") is not None and other["at_most"] <= high))
    accepted = test if isinstance(test, list) else [test]
    wanted = other if isinstance(other, list) else [other]
    return not isinstance(other, dict) and all(value in accepted for value in wanted)


def _check_asterisk_queues(path: Path, raw: Any, queues: list[Any], defined: set[str]) -> list[str]:
    """Every queue of the line is one Asterisk defines (else « mise en relation », then a hang-up)."""
    return [f"{path}:{line_of(raw, ('queues', i)) or 1}: queues.{i}: Asterisk defines no queue {queue!r} "
            f"(queues.conf has {', '.join(sorted(defined)) or 'none'}){_close(str(queue), defined)}: a caller sent "
            f"there would hear « mise en relation », then be hung up on"
            for i, queue in enumerate(queues) if str(queue) not in defined]


def _close(word: str, candidates: set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_values(path: Path, raw: Any, plain: dict[str, Any], values: dict[str, set[str]]) -> list[str]:
    """Every value a ``when``/``unless`` tests must be one the fact can take."""
    return [f"{path}:{line_of(raw, where) or 1}: {'.'.join(map(str, where))}: {value!r} is never a {fact}"
            f"{_close(str(value), values[fact])}: this test could never match ({', '.join(sorted(values[fact]))})"
            for where, fact, value in _tested_values(plain) if fact in values and str(value) not in values[fact]]


def _line_key(message: str) -> int:
    parts = message.split(":", 2)
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
