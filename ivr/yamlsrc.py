"""YAML sources that remember where things were written, for ``file:line`` errors.

Flows, scenarios, the prompt catalog and routing rules are edited by hand;
every error about them names the file and line the administrator must fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

__all__ = ["SourceError", "load_yaml", "read_source", "line_of", "to_plain", "validation_messages", "MAX_BYTES"]


class SourceError(ValueError):
    """One or more problems in a source file, each message ``file:line: what``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


#: Largest YAML file read (flows, rules, catalog): larger is a mistake, not a configuration.
MAX_BYTES = 1 << 20
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 40


def read_source(path: str | Path, max_bytes: int = MAX_BYTES) -> str:
    """The text of a hand-edited file, refused before reading when it is too large."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise SourceError([f"{path}:1: the file is {size:,} bytes; at most {max_bytes:,} are read "
                               f"(is it the right file?)"])
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError([f"{path}:1: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise SourceError([f"{path}: cannot read: {exc.strerror}"]) from None


def load_yaml(path: str | Path, text: str | None = None, *, max_bytes: int = MAX_BYTES) -> Any:
    """Parse a YAML file keeping line information (ruamel round-trip nodes).

    Bounded whatever the file holds: its size, its nesting, and no aliases (``*name``), whose
    expansion can turn a few hundred bytes into gigabytes (a "billion laughs").
    """
    path = Path(path)
    if text is None:
        text = read_source(path, max_bytes)
    elif len(text.encode("utf-8")) > max_bytes:
        raise SourceError([f"{path}:1: the file is larger than {max_bytes:,} bytes (is it the right file?)"])
    try:
        _screen(path, text)
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SourceError([f"{path}:{line}: invalid YAML: {_plain(exc)}"]) from None
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError([f"{path}:1: invalid YAML: {exc}"]) from None


#: Words YAML 1.1 read as booleans and YAML 1.2 (ours) reads as text: ``expertise: yes`` would be
#: the word "yes", never equal to true.
_YAML11_BOOLEANS = {"yes", "no", "on", "off"}


def _screen(path: Path, text: str) -> None:
    """Refuse, before building anything: aliases, too deep a nesting, and YAML 1.1 booleans."""
    depth = 0
    problems: list[str] = []
    #: For each open mapping or list: whether it is a mapping, and whether its next node is a key.
    open_: list[list[bool]] = []
    for event in YAML().parse(text):
        line = event.start_mark.line + 1
        if isinstance(event, AliasEvent):
            raise SourceError([f"{path}:{line}: YAML aliases (*{event.anchor}) are not accepted here: "
                               f"write the value out in full"])
        if isinstance(event, (ScalarEvent, MappingStartEvent, SequenceStartEvent)):
            is_key = bool(open_) and open_[-1][0] and open_[-1][1]
            if open_ and open_[-1][0]:
                open_[-1][1] = not open_[-1][1]
            if isinstance(event, ScalarEvent) and not is_key and event.style is None \
                    and event.value.lower() in _YAML11_BOOLEANS:
                meaning = "true" if event.value.lower() in ("yes", "on") else "false"
                problems.append(f"{path}:{line}: {event.value} is read as the word {event.value!r}, not as "
                                f"{meaning} (YAML 1.1 habit): write {meaning}, or quote it (\"{event.value}\") "
                                f"if you mean the word")
        if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
            open_.append([isinstance(event, MappingStartEvent), True])
            depth += 1
            if depth > MAX_DEPTH:
                raise SourceError([f"{path}:{line}: nested more than {MAX_DEPTH} levels deep"])
        elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
            open_.pop()
            depth -= 1
    if problems:
        raise SourceError(problems)


def _plain(exc: MarkedYAMLError) -> str:
    """The YAML parser's problem in words an administrator can act on."""
    problem = str(exc.problem or exc.context or "not valid YAML")
    first = exc.context_mark.line + 1 if exc.context_mark is not None else None
    if problem.startswith("found duplicate key"):
        key = problem.split('"')[1] if '"' in problem else "?"
        return f'the key "{key}" appears twice in the same block (first at line {first})'
    if "'\\t'" in problem or "\\t" in problem or "\t" in problem:
        return "a tab character: YAML indents with spaces only"
    if problem.startswith("mapping values are not allowed"):
        return "a ':' YAML cannot place: put quotes around a value that holds ': ', or check the indentation"
    if problem.startswith("expected ',' or ']'"):
        return f"a list opened with '[' (line {first}) is not closed with ']'"
    if problem.startswith("expected ',' or '}'"):
        return f"a mapping opened with '{{' (line {first}) is not closed with '}}'"
    if "while scanning a quoted scalar" in str(exc.context or ""):
        return f"a quote opened at line {first} is never closed"
    if problem.startswith("expected <block end>") or problem.startswith("did not find expected key"):
        return "the indentation does not match the lines above (a key too far left or right?)"
    if problem.startswith("could not find expected ':'"):
        return "a line without 'key: value' (a missing ':' or a wrong indentation)"
    return problem


def to_plain(node: Any) -> Any:
    """ruamel nodes → plain dicts/lists/scalars (keys as strings)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def line_of(data: Any, loc: Sequence[str | int]) -> int | None:
    """Line (1-based) of the deepest part of ``loc`` found in the YAML tree."""
    node = data
    line = None
    for part in loc:
        # ruamel's round-trip containers know where each key and item was written (``.lc``).
        where: Any = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                line = where.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line = where.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line


def validation_messages(
    path: str | Path, data: Any, exc: ValidationError, *, prefix: tuple[str | int, ...] = (), tag: str | None = None
) -> list[str]:
    """pydantic errors as ``file:line: field: message`` lines.

    ``tag`` is the discriminator value pydantic puts first in the location of
    a tagged union's errors (a node's ``kind``); it is not part of the YAML.
    """
    out = []
    for err in exc.errors():
        parts = list(err["loc"])
        if tag is not None and parts and parts[0] == tag:
            parts = parts[1:]
        loc = prefix + tuple(p for p in parts if not (isinstance(p, str) and p.startswith("function-")))
        line = line_of(data, loc) or 1
        field = ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{path}:{line}: {field}: {msg}")
    return out
