"""The slots a question can ask for: their values, keypad form and speech grammar name.

The flow validator checks slot names and menu values against this table; the
recogniser builds its grammar from it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SlotSpec", "SLOTS", "TITLE_TYPES", "TITLE_LABELS"]

TITLE_TYPES = ("carte_grise", "permis", "cni", "passeport")

#: How the IVR names each title type when it speaks.
TITLE_LABELS = {
    "carte_grise": "carte grise",
    "permis": "permis de conduire",
    "cni": "carte nationale d'identité",
    "passeport": "passeport",
}


@dataclass(frozen=True)
class SlotSpec:
    name: str
    #: Closed set of values (menus); empty for digit strings.
    values: tuple[str, ...] = ()
    #: The value is a digit string typed or spoken (file number, digits).
    digits: bool = False
    length: int | None = None


SLOTS: dict[str, SlotSpec] = {
    "title_type": SlotSpec("title_type", values=TITLE_TYPES),
    "yes_no": SlotSpec("yes_no", values=("yes", "no")),
    "rating": SlotSpec("rating", values=("1", "2", "3", "4", "5")),
    "file_number": SlotSpec("file_number", digits=True, length=10),
    "digits": SlotSpec("digits", digits=True),
}
