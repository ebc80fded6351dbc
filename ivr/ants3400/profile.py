"""The 34 00 line as the generic IVR sees it: its slots, filters, checks and routing facts."""

from __future__ import annotations

from ..interfaces import LineProfile, SlotSpec
from ..understanding.digits import parse_digits
from ..understanding.grammar import CORRECTION_PHRASES, FILLER_PHRASES, NUMBER_PHRASES, REQUEST_PHRASES
from ..understanding.slots import GENERIC_SLOTS
from .file_numbers import file_number_readings, is_valid_file_number, parse_file_number
from .files import FileLookup
from .routing import FACT_TYPES, routing_facts
from .statuses import STATUSES
from .title_words import TITLE_PHRASES, parse_title_type
from .titles import TITLE_LABELS, TITLE_TYPES

__all__ = ["PROFILE", "SLOTS", "TITLE_TYPE", "FILE_NUMBER", "parse_slot"]

TITLE_TYPE = SlotSpec("title_type", values=TITLE_TYPES, parse=parse_title_type, phrases=TITLE_PHRASES)
FILE_NUMBER = SlotSpec("file_number", digits=True, length=10, personal=True, parse=parse_file_number,
                       accept=is_valid_file_number, readings=file_number_readings, literal=parse_digits,
                       phrases=(*NUMBER_PHRASES, *CORRECTION_PHRASES, "fois", *FILLER_PHRASES, *REQUEST_PHRASES))

#: Every slot a 34 00 flow may ask for.
SLOTS: dict[str, SlotSpec] = {"title_type": TITLE_TYPE, "file_number": FILE_NUMBER, **GENERIC_SLOTS}

PROFILE = LineProfile(
    name="ants-3400",
    console_name="SVI 34 00",
    slots=SLOTS,
    filters={"label": lambda v: TITLE_LABELS.get(str(v), str(v))},
    validators={"mod97": is_valid_file_number},
    routing_facts=routing_facts,
    fact_types=FACT_TYPES,
    fact_values={"status": STATUSES, "title": TITLE_TYPES},
    fallback_queue="contractor",
    lookups=lambda tracking: {"tracking": FileLookup(tracking)},
    segment="title_type",
    segment_context="title",
    contact_slot="file_number",
    replay_values={"file_number": "5458443881"},
)


def parse_slot(slot: str, text: str) -> str | None:
    """Understand ``text`` for ``slot``; None when it was not understood."""
    try:
        spec = SLOTS[slot]
    except KeyError:
        raise ValueError(f"unknown slot {slot!r}; one of {', '.join(sorted(SLOTS))}") from None
    assert spec.parse is not None
    return spec.parse(text)
