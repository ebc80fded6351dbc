"""Every way a string of French number words can be read as digits.

French makes some digit strings ambiguous without pauses: « soixante dix » is 70 or 60 10,
« quatre-vingt-dix-neuf » is 99, 80 19 or 4 20 19, « cent quatre-vingts » is 180 or 100 80. A speech
engine writes no pauses. The caller, though, gives two constraints no engine uses: how many digits
the number has, and (for a 34 00 file number) its check key. :func:`digit_readings` lists every
reading, the most natural first; the question keeps the first one its checks accept.

The natural reading groups as much as it can (« soixante-seize » is 76): readings are ranked by the
number of groups, then by how early the groups are long.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .digits import CORRECTED, apply_correction, restated, spoken_tokens
from .numbers import HUNDRED, MULTIPLIERS, TEENS, TENS, THOUSAND, UNITS, is_article, unit_value

__all__ = ["Reading", "digit_readings", "best_reading"]

#: Readings kept while enumerating (a transcript of 30 number words has few that fit 10 digits).
MAX_READINGS = 4000


@dataclass(frozen=True)
class Reading:
    """One way of reading spoken digits: the digits, their groups and how they were said."""

    digits: str
    groups: tuple[str, ...]
    #: Tokens per group: a reading with fewer, longer groups (earlier) is the more natural.
    spans: tuple[int, ...]
    #: How far a correction was read from its most likely meaning (0: as restated).
    stretch: int = 0

    @property
    def rank(self) -> tuple[int, int, tuple[int, ...]]:
        """How good the reading is (lower is better): least stretched, then fewest groups, then longest spans."""
        return (self.stretch, len(self.groups), tuple(-s for s in self.spans))


def _below_hundred(toks: list[str], i: int) -> list[tuple[int, int]]:
    """Every number 0–99 a phrase starting at ``toks[i]`` can stand for: (value, end)."""
    if i >= len(toks):
        return []
    tok, nxt = toks[i], (toks[i + 1] if i + 1 < len(toks) else None)
    out: list[tuple[int, int]] = []
    unit = unit_value(tok)
    if unit is not None:
        out.append((unit, i + 1))
    teens = _teens(toks, i)
    out += teens
    if tok == "quatre" and nxt in ("vingt", "vingts"):
        out += _and_one(toks, 80, i + 2)  # « quatre-vingt et un », as in Belgium and Switzerland
        out += _tens_rest(toks, 80, i + 2, with_teens=True)
    if tok in TENS:
        base, j = TENS[tok], i + 1
        out += _and_one(toks, base, j)
        out += _tens_rest(toks, base, j, with_teens=base == 60)
    return out


def _and_one(toks: list[str], base: int, j: int) -> list[tuple[int, int]]:
    """« et un » after a tens word (« vingt et un », « quatre-vingt et un »), « et onze » after 60 and 80."""
    if j + 1 >= len(toks) or toks[j] != "et":
        return []
    after = toks[j + 1]
    if after in ("un", "une"):
        return [(base + 1, j + 2)]
    if after == "onze" and base in (60, 80):
        return [(base + 11, j + 2)]
    return []


def _teens(toks: list[str], i: int) -> list[tuple[int, int]]:
    tok = toks[i] if i < len(toks) else None
    if tok == "dix":
        out = [(10, i + 1)]
        unit = unit_value(toks[i + 1] if i + 1 < len(toks) else None, allow_zero=False)
        if unit is not None and unit >= 7:
            out.append((10 + unit, i + 2))
        return out
    if tok in TEENS:
        return [(TEENS[tok], i + 1)]
    return []


def _tens_rest(toks: list[str], base: int, j: int, *, with_teens: bool) -> list[tuple[int, int]]:
    """A tens word alone, with a unit, or (60 and 80) with a 10–19."""
    out = [(base, j)]
    unit = unit_value(toks[j] if j < len(toks) else None, allow_zero=False)
    if unit is not None:
        out.append((base + unit, j + 1))
    if with_teens:
        out += [(base + teen, k) for teen, k in _teens(toks, j)]
    return out


def _below_thousand(toks: list[str], i: int) -> list[tuple[int, int]]:
    """Every number 0–999 a phrase starting at ``toks[i]`` can stand for: (value, end)."""
    if i >= len(toks):
        return []
    tok, nxt = toks[i], (toks[i + 1] if i + 1 < len(toks) else None)
    out = _below_hundred(toks, i)
    if tok in HUNDRED or ((unit_value(tok) or 0) >= 2 and nxt in HUNDRED):
        base, j = (100, i + 1) if tok in HUNDRED else (unit_value(tok) * 100, i + 2)  # type: ignore[operator]
        out.append((base, j))
        if j < len(toks) and toks[j] not in ("zero", "zeros"):
            out += [(base + v, k) for v, k in _below_hundred(toks, j) if v > 0]
    return out


def _thousands(toks: list[str], i: int) -> list[tuple[int, int]]:
    """« [n] mille [m] »: every value a thousands phrase at ``toks[i]`` can stand for. Said in groups
    of four (« six mille deux cent cinquante, huit mille… ») and with no pause written, the end of one
    group and the start of the next are uncertain (« cinquante huit mille »): every split is a reading."""
    if toks[i] in THOUSAND:
        heads = [(1, i + 1)]
    else:
        heads = [(v, j + 1) for v, j in _below_thousand(toks, i) if v > 0 and j < len(toks) and toks[j] in THOUSAND]
    out = []
    for head, j in heads:
        out.append((head * 1000, j))
        if j < len(toks) and toks[j] not in ("zero", "zeros"):
            out += [(head * 1000 + v, k) for v, k in _below_thousand(toks, j) if v > 0]
    return out


def _options(toks: list[str], i: int) -> list[tuple[str, int]]:
    """Every digit string one number phrase starting at ``toks[i]`` can stand for: (digits, end)."""
    tok = toks[i]
    if tok.isdigit():
        return [(tok, i + 1)]
    return [(str(v), j) for v, j in _below_thousand(toks, i) + _thousands(toks, i)]


def _multiplied(toks: list[str], i: int) -> list[tuple[str, int]] | None:
    """« double zéro », « triple sept », « deux fois six »; None when ``toks[i]`` starts no such phrase."""
    tok = toks[i]
    if tok in MULTIPLIERS:
        repeat, j = MULTIPLIERS[tok], i + 1
    elif tok in ("deux", "trois") and i + 1 < len(toks) and toks[i + 1] == "fois":
        repeat, j = UNITS[tok], i + 2
    else:
        return None
    if j >= len(toks):
        return []
    return [(digits * repeat, k) for digits, k in _options(toks, j)]


def _chunk_readings(toks: list[str], max_len: int | None) -> list[Reading]:
    """Every segmentation of a run of number words (no pause, no filler inside) into groups."""
    memo: dict[int, list[Reading]] = {}

    def from_(i: int) -> list[Reading]:
        if i == len(toks):
            return [Reading("", (), ())]
        if i in memo:
            return memo[i]
        # One reading per digit string, the best: what comes before is the same for all of them, so
        # the best of the whole number is made of the best of its end (and the cap loses nothing
        # a caller could have meant).
        best: dict[str, Reading] = {}
        options = _multiplied(toks, i)
        if options is None:
            options = _options(toks, i)
        if not options:  # a word that starts no number here (a stray « et »): skip it
            memo[i] = from_(i + 1)
            return memo[i]
        for digits, j in options:
            for rest in from_(j):
                total = digits + rest.digits
                if max_len is not None and len(total) > max_len:
                    continue
                reading = Reading(total, (digits, *rest.groups), (j - i, *rest.spans))
                if total not in best or reading.rank < best[total].rank:
                    best[total] = reading
            if len(best) >= MAX_READINGS:
                break
        memo[i] = list(best.values())
        return memo[i]

    return from_(0)


def _segments(text: str) -> list[list[list[str]]]:
    """The transcript as segments (the first, then each correction), each a list of chunks of number words."""
    toks = spoken_tokens(text)
    segments: list[list[list[str]]] = [[[]]]
    for i, tok in enumerate(toks):
        chunks = segments[-1]
        if tok == CORRECTED:
            if any(chunks):
                segments.append([[]])
            continue
        is_number = (tok in UNITS or tok in TEENS or tok in TENS or tok in HUNDRED or tok in THOUSAND
                     or tok.isdigit() or tok in MULTIPLIERS or tok in ("et", "fois"))
        if tok in ("un", "une") and is_article(toks, i) and not (i > 0 and toks[i - 1] == "et"):
            is_number = False
        if is_number:
            chunks[-1].append(tok)
        elif chunks[-1]:
            chunks.append([])  # a pause, a filler, an article: no number runs across it
    return [[c for c in seg if c] for seg in segments]


def _segment_readings(chunks: list[list[str]], max_len: int | None) -> list[Reading]:
    readings = [Reading("", (), ())]
    for chunk in chunks:
        combined = []
        for head in readings:
            for tail in _chunk_readings(chunk, None if max_len is None else max_len - len(head.digits)):
                combined.append(Reading(head.digits + tail.digits, head.groups + tail.groups, head.spans + tail.spans))
                if len(combined) >= MAX_READINGS:
                    break
        readings = combined
    return readings


def digit_readings(text: str, *, max_len: int | None = None) -> list[Reading]:
    """Every reading of ``text`` as a digit string, the most natural first; corrections (« non
    pardon, zéro sept ») and restarts (« je recommence ») are applied to each reading."""
    segments = _segments(text)
    # Without a correction, no reading longer than ``max_len`` can become one that fits: prune early.
    readings = _segment_readings(segments[0], max_len if len(segments) == 1 else None)
    for correction in segments[1:]:
        fixes = _segment_readings(correction, None)
        combined = []
        for before in readings:
            for fix in fixes:
                # What the correction restates is itself uncertain: its first group, or one or two
                # digits more or less; the most likely amount ranks first, the key decides.
                likely = restated(list(fix.groups))
                for extra, amount in enumerate(dict.fromkeys((likely, 2, 1, 3, 4))):
                    groups = tuple(apply_correction(list(before.groups), list(fix.groups), amount))
                    kept = len(groups) - len(fix.groups)
                    combined.append(Reading("".join(groups), groups, (*before.spans[:kept], *fix.spans), extra))
                if len(combined) >= MAX_READINGS:
                    break
        readings = combined or readings
    if max_len is not None:
        readings = [r for r in readings if len(r.digits) <= max_len]
    unique: dict[str, Reading] = {}
    for r in sorted(readings, key=lambda r: r.rank):
        if r.digits:
            unique.setdefault(r.digits, r)
    return list(unique.values())


def best_reading(text: str, accept: Callable[[str], bool], *, length: int | None = None) -> str | None:
    """The most natural reading of ``text`` that has ``length`` digits and passes ``accept``, or None."""
    for reading in digit_readings(text, max_len=length):
        if (length is None or len(reading.digits) == length) and accept(reading.digits):
            return reading.digits
    return None
