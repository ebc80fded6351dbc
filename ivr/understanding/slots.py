"""The slots any line can ask for: yes/no, a 1–5 rating, a digit string. A line's profile adds its own
(the 34 00's title types and file numbers) to make the table its flows are checked against."""

from __future__ import annotations

from ..interfaces import SlotSpec
from .answers import parse_rating, parse_yes_no
from .digits import parse_digits
from .grammar import DIGITS_PHRASES, RATING_PHRASES, YES_NO_PHRASES

__all__ = ["YES_NO", "RATING", "DIGITS", "GENERIC_SLOTS"]

YES_NO = SlotSpec("yes_no", values=("yes", "no"), parse=parse_yes_no, phrases=YES_NO_PHRASES)
RATING = SlotSpec("rating", values=("1", "2", "3", "4", "5"), parse=parse_rating, phrases=RATING_PHRASES)
DIGITS = SlotSpec("digits", digits=True, parse=parse_digits, phrases=DIGITS_PHRASES)

GENERIC_SLOTS: dict[str, SlotSpec] = {s.name: s for s in (YES_NO, RATING, DIGITS)}
