"""What every store shares, whatever the database: a booked callback as the dialler reads it, and how a
caller's number is kept (never as such: a keyed hash, the key generated once per store)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

__all__ = ["Callback", "CallerHasher", "CALLER_KEY", "new_caller_key"]

#: The ``meta`` row that holds the store's own caller key when the operator gives none.
CALLER_KEY = "caller_key"


def new_caller_key() -> str:
    """A key for a store that has none yet (written once, in its ``meta`` table)."""
    return secrets.token_hex(32)


@dataclass
class Callback:
    """A callback booked by a caller facing a long wait."""

    id: int
    created_at: float
    number: str
    queue: str
    reason: str
    context: dict[str, Any]
    state: str
    attempts: int


class CallerHasher:
    """A caller's number as the store keeps it (per-caller daily counts): a keyed hash, so the
    database holds no number and a number cannot be found again from it without the key."""

    def __init__(self, key: str = "") -> None:
        self._key = key.encode()

    @property
    def has_key(self) -> bool:
        """Whether a key is set."""
        return bool(self._key)

    def use_key(self, key: str) -> None:
        """The store's own key (read from its ``meta`` table), when the operator gave none."""
        self._key = key.encode()

    def __call__(self, number: str) -> str:
        """The hash of ``number``."""
        assert self._key, "the store's caller key is not set (the store is not open)"
        return hmac.new(self._key, number.encode(), hashlib.sha256).hexdigest()[:32]
