"""File numbers as people say them, written by an independent number writer (num2words: French of
France, Belgium and Switzerland), not by our own :func:`~ivr.understanding.numbers.number_words`.

The text has no punctuation and no hyphens, as a speech engine writes it: where one group ends and
the next starts is for the reader to find, helped only by the length and the key.
"""

from __future__ import annotations

import random

import pytest
from num2words import num2words

from ivr.ants3400.file_numbers import file_number_readings, make_file_number, parse_file_number

#: How callers group the ten digits.
GROUPINGS = {"2-2-2-2-2": (2, 2, 2, 2, 2), "3-3-2-2": (3, 3, 2, 2), "4-4-2": (4, 4, 2), "one by one": (1,) * 10}
LANGUAGES = ("fr", "fr_BE", "fr_CH")
_rng = random.Random(2026)
NUMBERS = [make_file_number(_rng.randrange(0, 100_000_000)) for _ in range(150)]


def said(number: str, lang: str, grouping: tuple[int, ...]) -> str:
    """``number`` said in groups, a group's leading zeros as « zéro » (« zéro six »), as a speech
    engine writes it (no commas, no hyphens, lowercase)."""
    words, at = [], 0
    for size in grouping:
        group = number[at:at + size]
        at += size
        zeros = len(group) - len(group.lstrip("0"))
        words += ["zéro"] * zeros
        if zeros < len(group):
            words.append(num2words(int(group), lang=lang))
    return " ".join(words).replace("-", " ").replace(",", "").lower()


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("grouping", GROUPINGS, ids=list(GROUPINGS))
def test_a_file_number_said_in_groups_is_read_back_as_said(lang, grouping):
    misread = []
    for number in NUMBERS:
        text = said(number, lang, GROUPINGS[grouping])
        # Every number has a reading: the caller who says « non » to the readback is offered it.
        assert number in file_number_readings(text), text
        if parse_file_number(text) != number:
            misread.append((number, text))
    # A misread is only ever a number whose words also make another valid number that reads more
    # naturally (« trois mille cent quatre-vingt quatorze »: 3180 14 as well as 3100 94).
    for number, text in misread:
        assert file_number_readings(text).index(number) > 0, text
    assert len(misread) <= len(NUMBERS) // 100, misread


def test_belgian_and_swiss_tens_and_four_digit_groups():
    assert parse_file_number("quatre vingt et un nonante deux quarante huit soixante cinq septante quatre") \
        == "8192486574"
    assert parse_file_number("six mille huit cents vingt deux mille neuf cents trente huit nonante") == "6820293890"
    # Without the key to arbitrate, the natural reading: « quatre-vingt et un » is 81.
    from ivr.understanding.digits import parse_digits

    assert parse_digits("quatre vingt et un nonante deux") == "8192"
