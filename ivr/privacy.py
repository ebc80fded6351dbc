"""Masking of personal data (caller numbers, file numbers) for logs and call records."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["mask_digits", "mask_caller", "mask_file_number", "mask_sensitive_keys", "SENSITIVE_KEYS"]

_DIGIT = re.compile(r"\d")


def mask_digits(value: str, keep_start: int = 2, keep_end: int = 2) -> str:
    """Replace the digits of ``value`` by ``*`` except the first and last few.

    Short values (at most ``keep_start + keep_end`` digits) are masked
    entirely, so that masking never reveals a whole short number.
    """
    digits = [m.start() for m in _DIGIT.finditer(value)]
    if not digits:
        return value
    if len(digits) <= keep_start + keep_end:
        keep: set[int] = set()
    else:
        keep = set(digits[:keep_start]) | set(digits[len(digits) - keep_end:])
    return "".join(ch if (i in keep or not ch.isdigit()) else "*" for i, ch in enumerate(value))


def mask_caller(number: str) -> str:
    """A caller number as logs and records show it: ``06******78``."""
    return mask_digits(number, 2, 2)


def mask_file_number(number: str) -> str:
    """A file number as logs and records show it: only the 2-digit key stays, ``********34``."""
    return mask_digits(number, 0, 2)


#: Log/record keys whose values are always masked, whatever the caller passed.
SENSITIVE_KEYS: dict[str, Any] = {
    "caller": mask_caller,
    "callerid": mask_caller,
    "caller_number": mask_caller,
    "callback_number": mask_caller,
    "file_number": mask_file_number,
}


def mask_sensitive_keys(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask known personal fields before anything renders them."""
    for key, mask in SENSITIVE_KEYS.items():
        value = event.get(key)
        if isinstance(value, str) and value:
            event[key] = mask(value)
    return event
