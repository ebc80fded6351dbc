"""The main figures day by day: a table, a CSV file for the agency's reporting, and a chart drawn as SVG
(no script library: the console's pages run no inline code)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from html import escape

from .kpis import Tally, segment_figures

__all__ = ["DayFigures", "day_figures", "days_csv", "days_svg", "CHARTED"]


@dataclass(frozen=True)
class DayFigures:
    """One day of the line (its local date)."""

    day: str
    calls: int
    offered: int
    self_served: int
    containment: float | None
    ratings: int
    satisfaction_4_5: float | None
    waited_out: int  # callers answered or who abandoned in a queue
    answered_in_time: int
    service_level: float | None


def day_figures(days: Sequence[tuple[str, float, Tally]], service: Sequence[tuple[int, int]]) -> list[DayFigures]:
    """Each day's figures from its tally (the records) and its queues' (answered in time, waited out)."""
    rows = []
    for (day, _, tally), (in_time, waited_out) in zip(days, service, strict=True):
        figures = segment_figures(tally.segments.get("", Counter()))
        sat = figures["satisfaction"]
        rows.append(DayFigures(day, tally.calls, tally.offered, tally.self_served, figures["containment"],
                               sat["rated"], sat["top_share"], waited_out, in_time,
                               round(in_time / waited_out, 4) if waited_out else None))
    return rows


def days_csv(rows: Sequence[DayFigures]) -> str:
    """The days as CSV (one header line, a row a day; shares as decimals, empty when there is none)."""
    out = io.StringIO()
    fields = list(DayFigures.__dataclass_fields__)
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in asdict(row).items()})
    return out.getvalue()


#: The shares the chart draws: the field, its legend, its colour.
CHARTED = (("containment", "Autonomie (servis par le SVI)", "#1b6ac9"),
           ("satisfaction_4_5", "Satisfaction (notes 4–5)", "#2e8540"),
           ("service_level", "Niveau de service des files", "#c05600"))

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 720, 260, 48, 16, 16, 64


def days_svg(rows: Sequence[DayFigures]) -> str:
    """A line chart of :data:`CHARTED` (0–100 %), a point a day; a day without the figure leaves a gap."""
    if not rows:
        return ""
    width, height = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM
    step = width / max(len(rows) - 1, 1)

    def x(i: int) -> float:
        return _LEFT + i * step if len(rows) > 1 else _LEFT + width / 2

    def y(share: float) -> float:
        return _TOP + height * (1 - share)

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {_W} {_H}' role='img' class='chart' "
             "aria-label='Indicateurs jour par jour'>"]
    for pct in (0, 25, 50, 75, 100):
        parts.append(f"<line x1='{_LEFT}' x2='{_W - _RIGHT}' y1='{y(pct / 100):.1f}' y2='{y(pct / 100):.1f}' "
                     "stroke='#ddd'/>"
                     f"<text x='{_LEFT - 6}' y='{y(pct / 100) + 4:.1f}' text-anchor='end' font-size='11'>{pct} %</text>")
    for i, row in enumerate(rows):
        parts.append(f"<text x='{x(i):.1f}' y='{_TOP + height + 16}' text-anchor='middle' font-size='11'>"
                     f"{escape(row.day[5:])}</text>")
    for n, (field, label, colour) in enumerate(CHARTED):
        runs: list[list[str]] = [[]]
        for i, row in enumerate(rows):
            value = getattr(row, field)
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{x(i):.1f},{y(value):.1f}")
            parts.append(f"<circle cx='{x(i):.1f}' cy='{y(value):.1f}' r='3' fill='{colour}'>"
                         f"<title>{escape(label)} {escape(row.day)} : {value * 100:.0f} %</title></circle>")
        parts += [f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{' '.join(run)}'/>"
                  for run in runs if len(run) > 1]
        legend_y = _H - 28 + 14 * (n // 2)
        legend_x = _LEFT + (n % 2) * 300
        parts.append(f"<rect x='{legend_x}' y='{legend_y - 9}' width='12' height='4' fill='{colour}'/>"
                     f"<text x='{legend_x + 18}' y='{legend_y - 4}' font-size='12'>{escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
