"""Which caller numbers a public service may call back, and the digits it dials.

A caller chooses their caller ID: it reaches an AMI Originate only through :meth:`CallbackNumbers.dialable`,
which accepts French geographic (01–05) and mobile (06, 07) numbers, and international numbers only
under prefixes the operator configured (overseas territories, ``+590``…). Premium and special numbers
(08…), non-geographic ones (09…), withheld or restricted presentations and anything that is not a
plain number are refused. The dialplan's ``[ivr-callback-out]`` accepts the same numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["CallbackNumbers"]

#: Separators people write numbers with; anything else in a caller ID means it is not a plain number.
_SEPARATORS = re.compile(r"[ .\-()]")
_FRENCH = re.compile(r"0[1-7]\d{8}")
_INTERNATIONAL = re.compile(r"\+\d{8,15}")
_UNNAMED = {"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"}


class CallbackNumbers:
    """The callback numbering policy: ``international`` lists the ``+`` prefixes an operator allows."""

    def __init__(self, international: Iterable[str] = ()) -> None:
        self.international = tuple(p.strip() for p in international if p.strip())
        for prefix in self.international:
            if not re.fullmatch(r"\+\d{1,6}", prefix):
                raise ValueError(f"callback prefix {prefix!r}: a + and 1 to 6 digits (e.g. +590)")

    def dialable(self, number: str, *, withheld: bool = False) -> str | None:
        """The number to dial (``0612345678``, or ``+590690…`` under an allowed prefix), or None."""
        if withheld or number.strip().lower() in _UNNAMED:
            return None
        plain = _SEPARATORS.sub("", number.strip())
        if plain.startswith("00"):
            plain = "+" + plain[2:]
        if plain.startswith("+33") and len(plain) == 12:
            plain = "0" + plain[3:]
        if _FRENCH.fullmatch(plain):
            return plain
        if _INTERNATIONAL.fullmatch(plain) and any(plain.startswith(p) for p in self.international):
            return plain
        return None

    def identified(self, number: str, *, withheld: bool = False) -> bool:
        """A caller who can be told apart from others (per-caller counts): a number, presented."""
        if withheld or number.strip().lower() in _UNNAMED:
            return False
        return len(re.sub(r"\D", "", number)) >= 6
