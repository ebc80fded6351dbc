"""``{var.path|filter}`` templates over call variables (say texts, lookup args, route context)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..privacy import mask_file_number

__all__ = ["render", "lookup", "FILTERS", "Filters", "TemplateError", "references"]

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)(?:\|([a-z_]+))?\}")

Filters = Mapping[str, Callable[[Any], str]]

#: Filters every flow may use; a line's profile adds its own (``label``).
FILTERS: dict[str, Callable[[Any], str]] = {
    "mask": lambda v: mask_file_number(str(v)),
    "upper": lambda v: str(v).upper(),
}


class TemplateError(ValueError):
    """A template names a variable the call does not have, or is malformed."""


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """``"dossier.status"`` → ``variables["dossier"]["status"]``; None when absent."""
    node: Any = variables
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        else:
            return None
    return node


def render(template: str, variables: Mapping[str, Any], filters: Filters = FILTERS) -> str:
    """Fill ``{name}`` fields; missing values render as empty text."""

    def one(m: re.Match[str]) -> str:
        value = lookup(variables, m.group(1))
        if value is None:
            return ""
        flt = m.group(2)
        if flt:
            if flt not in filters:
                raise TemplateError(f"unknown template filter {flt!r}")
            value = filters[flt](value)
        return str(value)

    return _FIELD.sub(one, template)


def references(template: str) -> list[tuple[str, str | None]]:
    """The (variable, filter) pairs a template uses."""
    return [(m.group(1), m.group(2)) for m in _FIELD.finditer(template)]
