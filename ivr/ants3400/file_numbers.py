"""34 00 file numbers ("numéro de dossier"): 8 digits and a 2-digit key, 97 − (n mod 97).

The key lets the IVR reject a misheard number and ask again instead of reading out somebody else's file.
"""

from __future__ import annotations

from ..understanding.digits import parse_digits
from ..understanding.readings import best_reading, digit_readings

__all__ = ["file_number_key", "is_valid_file_number", "make_file_number", "parse_file_number", "file_number_readings", "LENGTH"]

#: Digits in a file number.
LENGTH = 10


def file_number_key(first8: str) -> str:
    """The 2-digit key of the first 8 digits, zero-padded."""
    return f"{97 - int(first8) % 97:02d}"


def is_valid_file_number(value: str) -> bool:
    """True for 10 digits whose last two are the key of the first eight."""
    return len(value) == 10 and value.isdigit() and value[8:] == file_number_key(value[:8])


def make_file_number(first8: int | str) -> str:
    """A valid file number from its first 8 digits (test data, the tracking stub)."""
    base = f"{int(first8):08d}"
    return base + file_number_key(base)


def parse_file_number(text: str) -> str | None:
    """A spoken file number: among every way to read the words as digits, the most natural one that
    has 10 digits and a valid key; when none has, the most natural reading (the question then says
    the number is not valid and asks again)."""
    return best_reading(text, is_valid_file_number, length=LENGTH) or parse_digits(text)


def file_number_readings(text: str) -> list[str]:
    """Every valid file number a spoken text may mean, the most natural first."""
    return [r.digits for r in digit_readings(text, max_len=LENGTH)
            if len(r.digits) == LENGTH and is_valid_file_number(r.digits)]
