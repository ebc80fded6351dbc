"""YAML sources that remember where things were written, for ``file:line`` errors.

Flows, scenarios, the prompt catalog and routing rules are edited by hand;
every error about them names the file and line the administrator must fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError

__all__ = ["SourceError", "load_yaml", "line_of", "to_plain", "validation_messages"]


class SourceError(ValueError):
    """One or more problems in a source file, each message ``file:line: what``."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("\n".join(messages))
        self.messages = messages


def load_yaml(path: str | Path, text: str | None = None) -> Any:
    """Parse a YAML file keeping line information (ruamel round-trip nodes)."""
    path = Path(path)
    if text is None:
        text = path.read_text(encoding="utf-8")
    try:
        return YAML(typ="rt").load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise SourceError([f"{path}:{line}: invalid YAML: {problem}"]) from None
    except Exception as exc:
        raise SourceError([f"{path}:1: invalid YAML: {exc}"]) from None


def to_plain(node: Any) -> Any:
    """ruamel nodes → plain dicts/lists/scalars (keys as strings)."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def line_of(data: Any, loc: tuple | list) -> int | None:
    """Line (1-based) of the deepest part of ``loc`` found in the YAML tree."""
    node = data
    line = None
    for part in loc:
        try:
            if isinstance(node, dict) and part in node:
                line = node.lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                line = node.lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (AttributeError, KeyError, TypeError):
            break
    return line


def validation_messages(
    path: str | Path, data: Any, exc: ValidationError, *, prefix: tuple = (), tag: str | None = None
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
