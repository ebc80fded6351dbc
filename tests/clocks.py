"""Fixed instants for tests: no test result may depend on when the suite runs.

Calls that care about opening hours give their time (``call.at``); the
instants below are the edges of the 34 00 opening hours (Europe/Paris).
"""

from __future__ import annotations

#: A Tuesday morning: the line is open.
OPEN = "2026-11-24T10:00:00+01:00"

#: Instants at which the whole suite of bundled scenarios must behave the same,
#: with whether the line is open then (Mon–Sat 07:45–22:00, closed Sundays and holidays).
FROZEN_CLOCKS = {
    "sunday-0300": ("2026-11-29T03:00:00+01:00", False),
    "weekday-0300": ("2026-11-25T03:00:00+01:00", False),
    "christmas-1100": ("2026-12-25T11:00:00+01:00", False),
    "monday-0744": ("2026-11-30T07:44:00+01:00", False),
    "monday-0745": ("2026-11-30T07:45:00+01:00", True),
    "saturday-2159": ("2026-11-28T21:59:00+01:00", True),
    "saturday-2200": ("2026-11-28T22:00:00+01:00", False),
    # Daylight-saving nights (both Sundays): 02:00 CET jumps to 03:00 CEST; 03:00 CEST falls back to 02:00 CET.
    "dst-spring-forward": ("2026-03-29T01:30:00+00:00", False),
    "dst-fall-back": ("2026-10-25T01:30:00+00:00", False),
}
