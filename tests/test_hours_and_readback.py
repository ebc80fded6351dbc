"""Opening hours with French public holidays; French readback of numbers and dates; file-number keys."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.ants3400.file_numbers import file_number_key, is_valid_file_number, make_file_number
from ivr.ants3400.profile import PROFILE
from ivr.engine.hours import WeeklyHours, easter_sunday, french_public_holidays, parse_ranges
from ivr.engine.template import FILTERS, TemplateError, render
from ivr.tts.sentences import say_date_text, say_days_text, say_digits_text

PARIS = ZoneInfo("Europe/Paris")
HOURS = WeeklyHours(weekly={d: parse_ranges("07:45-22:00") for d in ("mon", "tue", "wed", "thu", "fri", "sat")})


@pytest.mark.parametrize("year, easter", [(2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)),
                                          (2026, date(2026, 4, 5)), (2027, date(2027, 3, 28))])
def test_easter(year, easter):
    assert easter_sunday(year) == easter


def test_french_holidays_2026():
    h = french_public_holidays(2026)
    assert len(h) == 11
    assert h[date(2026, 4, 6)] == "Lundi de Pâques"
    assert h[date(2026, 5, 14)] == "Ascension"
    assert h[date(2026, 5, 25)] == "Lundi de Pentecôte"


@pytest.mark.parametrize("when, is_open", [
    (datetime(2026, 11, 24, 7, 44, tzinfo=PARIS), False),
    (datetime(2026, 11, 24, 7, 45, tzinfo=PARIS), True),
    (datetime(2026, 11, 24, 21, 59, tzinfo=PARIS), True),
    (datetime(2026, 11, 24, 22, 0, tzinfo=PARIS), False),
    (datetime(2026, 11, 29, 12, 0, tzinfo=PARIS), False),  # Sunday
    (datetime(2026, 11, 28, 12, 0, tzinfo=PARIS), True),  # Saturday
    (datetime(2026, 11, 11, 12, 0, tzinfo=PARIS), False),  # Armistice, a Wednesday
    (datetime(2026, 7, 14, 12, 0, tzinfo=PARIS), False),
    (datetime(2026, 11, 24, 6, 50, tzinfo=ZoneInfo("UTC")), True),  # 7:50 in Paris (UTC+1 in winter)
    (datetime(2026, 7, 1, 5, 50, tzinfo=ZoneInfo("UTC")), True),  # 7:50 in Paris (UTC+2 in summer)
])
def test_opening_hours(when, is_open):
    assert HOURS.is_open(when) is is_open


@pytest.mark.parametrize("bad", ["7h45-22h", "22:00-07:45", "25:00-26:00"])
def test_bad_ranges(bad):
    with pytest.raises(ValueError):
        parse_ranges(bad)


def test_readback_texts():
    assert say_digits_text("0612345678") == "0 6, 1 2, 3 4, 5 6, 7 8"
    assert say_date_text("2026-12-03") == "le 3 décembre"
    assert say_date_text("2026-12-01") == "le 1er décembre"
    assert say_date_text("2027-01-05", today=date(2026, 12, 20)) == "le 5 janvier 2027"
    assert say_days_text(1) == "demain"
    assert say_days_text(5) == "dans 5 jours"
    assert say_days_text(21) == "dans environ 3 semaines"


def test_templates():
    vars_ = {"title": "cni", "file_number": "1234567894", "dossier": {"status": "refuse"}}
    filters = {**FILTERS, **PROFILE.filters}  # the 34 00 profile adds {title|label}
    assert render("{title|label} / {file_number|mask} / {dossier.status} / {absent}", vars_, filters) == \
        "carte nationale d'identité / ********94 / refuse / "
    with pytest.raises(TemplateError):
        render("{title|label}", vars_)  # the generic engine has no such filter


@given(st.integers(min_value=0, max_value=99_999_999))
def test_every_generated_file_number_is_valid_and_one_wrong_digit_is_caught(n):
    number = make_file_number(n)
    assert is_valid_file_number(number)
    for i in range(10):
        wrong = number[:i] + str((int(number[i]) + 1) % 10) + number[i + 1:]
        assert not is_valid_file_number(wrong)


def test_key_is_97_minus_mod():
    assert file_number_key("12345678") == f"{97 - 12345678 % 97:02d}" == "94"
    assert not is_valid_file_number("123456789")  # 9 digits
