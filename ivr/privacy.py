"""Masking of personal data (caller numbers, file numbers) for logs and call records."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any

__all__ = ["mask_digits", "mask_caller", "mask_file_number", "mask_sensitive_keys", "SENSITIVE_KEYS",
           "scrub_numbers", "printable", "scrub_event"]

_DIGIT = re.compile(r"\d")
#: A number long enough to be a file number or a telephone number, standing on its own in a text
#: (a URL path, an exception message); runs inside identifiers (hex ids) are not numbers.
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])\+?\d{8,}(?![0-9A-Za-z])")
#: Log fields that are identifiers, not personal data (they may hold long digit runs).
_IDENTIFIERS = {"call_id", "uniqueid", "sip_call_id", "timestamp", "version", "flow_version"}


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


def scrub_numbers(text: str) -> str:
    """Mask every long number in free text (``…/v1/files/cni/1234567894`` → ``…/cni/********94``).

    For texts nobody wrote with masking in mind: exception messages, URLs, library log lines.
    """
    return _LONG_NUMBER.sub(lambda m: mask_digits(m.group(0), 0, 2), text)


def printable(text: str) -> str:
    """Control characters (a terminal's escape sequences, NUL, line breaks) as visible ``\\xNN`` escapes.

    A caller chooses their caller ID and SIP headers: nothing of theirs may drive the terminal an
    operator reads the logs on.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
                   for ch in text)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return printable(scrub_numbers(value))
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def scrub_event(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor, after exceptions are formatted: no long number and no control character
    reaches a log line, whatever field or exception text carries it."""
    for key, value in list(event.items()):
        if key in _IDENTIFIERS:
            event[key] = printable(value) if isinstance(value, str) else value
        elif key == "exception" and isinstance(value, str):
            # A traceback keeps its line breaks; only numbers and other control characters go.
            event[key] = "\n".join(printable(scrub_numbers(line)) for line in value.split("\n"))
        else:
            event[key] = _clean(value)
    return event
