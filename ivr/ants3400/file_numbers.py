"""34 00 file numbers ("numéro de dossier"): 8 digits and a 2-digit key, 97 − (n mod 97).

The key lets the IVR reject a misheard number and ask again instead of reading out somebody else's file.
"""

from __future__ import annotations

__all__ = ["file_number_key", "is_valid_file_number", "make_file_number"]


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
