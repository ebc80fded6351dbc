"""What changed between two configurations, node by node and field by field (no I/O).

An administrator asks « what did version 7 change? », not « which lines moved »: each flow is compared
node by node (a node added, removed, or its fields changed, ``prompts``, ``next``, ``choices.1``…), the
flow's own fields apart; the routing rules rule by rule (by name) and the catalog prompt by prompt. A
file that is not YAML any more is compared as text.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["Change", "diff_texts", "flatten"]

#: Longest value shown in a change (a prompt's text can be long).
_SHOWN = 300


@dataclass(frozen=True)
class Change:
    """One difference: in ``file``, at ``part`` (a flow's node, a rule, a prompt; empty for the file's own
    fields), ``field`` went from ``before`` to ``after`` (None: not there)."""

    file: str
    part: str
    field: str
    before: str | None
    after: str | None

    @property
    def kind(self) -> str:
        """``added``, ``removed`` or ``changed``."""
        return "added" if self.before is None else "removed" if self.after is None else "changed"

    def as_dict(self) -> dict[str, Any]:
        """The change as JSON shows it."""
        return {"file": self.file, "part": self.part, "field": self.field, "kind": self.kind,
                "before": self.before, "after": self.after}


def diff_texts(before: Mapping[str, str], after: Mapping[str, str]) -> list[Change]:
    """The changes from the files ``before`` to the files ``after`` (both by name), in file order."""
    changes: list[Change] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if old is None or new is None:
            changes.append(Change(name, "", "(file)", None if old is None else "present",
                                  None if new is None else "present"))
            continue
        changes += _diff_file(name, old, new)
    return changes


def _diff_file(name: str, old: str, new: str) -> list[Change]:
    try:
        a, b = _parse(old), _parse(new)
    except YAMLError:
        return _text_changes(name, old, new)
    parts_a, parts_b = _parts(name, a), _parts(name, b)
    out = []
    for part in _ordered(parts_a, parts_b):
        fields_a, fields_b = parts_a.get(part), parts_b.get(part)
        if fields_a is None or fields_b is None:
            out.append(Change(name, part, "(whole)", None if fields_a is None else "present",
                              None if fields_b is None else "present"))
            continue
        for key in _ordered(fields_a, fields_b):
            va, vb = fields_a.get(key), fields_b.get(key)
            if va != vb:
                out.append(Change(name, part, key, va, vb))
    if not out:  # only comments or layout moved
        out = _text_changes(name, old, new)
    return out


def _parse(text: str) -> Any:
    return YAML(typ="safe").load(text)


def _parts(name: str, data: Any) -> dict[str, dict[str, str]]:
    """The file cut into parts: a flow's nodes (its other fields in part ``""``), the rules by name,
    the catalog's prompts; each part's fields flattened."""
    if not isinstance(data, Mapping):
        return {"": {"(value)": _shown(data)}}
    split = {"nodes": "node ", "prompts": "prompt "} if name != "rules.yaml" else {}
    parts: dict[str, dict[str, str]] = {"": {}}
    for key, value in data.items():
        prefix = split.get(str(key))
        if prefix is not None and isinstance(value, Mapping):
            for sub, item in value.items():
                parts[f"{prefix}{sub}"] = flatten(item)
        elif name == "rules.yaml" and isinstance(value, list):
            for i, item in enumerate(value):
                label = item.get("name") if isinstance(item, Mapping) and item.get("name") else f"#{i + 1}"
                parts[f"{key} {label}"] = flatten(item)
        else:
            parts[""].update(flatten(value, str(key)))
    return parts


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}, "c": [x, y]}`` → ``{"a.b": "1", "c.1": "x", "c.2": "y"}`` (a scalar: under
    ``prefix``, or ``(value)``)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and any(isinstance(v, (Mapping, list)) for v in value):
        out = {}
        for i, item in enumerate(value, 1):
            out.update(flatten(item, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix or "(value)": _shown(value)}


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else text[:_SHOWN - 1] + "…"


def _ordered(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    """The keys of ``a`` in its order, then those only ``b`` has, in its order."""
    return list(a) + [k for k in b if k not in a]


def _text_changes(name: str, old: str, new: str) -> list[Change]:
    lines = [line for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    removed = "\n".join(line[1:] for line in lines if line.startswith("-"))
    added = "\n".join(line[1:] for line in lines if line.startswith("+"))
    return [Change(name, "", "(text)", _shown(removed) if removed else "", _shown(added) if added else "")]
