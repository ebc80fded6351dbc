"""A corpus of spoken 34 00 file numbers, as a French caller says them and a recogniser writes them.

Lowercase words, no punctuation (Vosk writes none), compounds with or without hyphens. Each style is
one way of saying the ten digits; the corpus mixes them with a seeded random generator, so it is the
same every time for a seed and another seed gives a held-out set in the same styles.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..ants3400.file_numbers import make_file_number
from ..understanding.numbers import number_words

__all__ = ["STYLES", "generate", "write_corpus", "load_corpus", "accuracy"]

_DIGITS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]


def _group(g: str, rng: random.Random) -> str:
    """A group of digits as said: « zéro six » for a leading zero, otherwise the number."""
    if g[0] == "0" and len(g) > 1:
        return " ".join(_DIGITS[int(d)] for d in g)
    return number_words(int(g))


def _hyphens(text: str, rng: random.Random) -> str:
    """Recognisers write « quatre-vingt-dix » or « quatre vingt dix »."""
    return text if rng.random() < 0.5 else text.replace("-", " ")


def _digits(n: str, rng: random.Random) -> str:
    return " ".join(_DIGITS[int(d)] for d in n)


def _pairs(n: str, rng: random.Random) -> str:
    return _hyphens(" ".join(_group(n[i:i + 2], rng) for i in range(0, 10, 2)), rng)


def _triples(n: str, rng: random.Random) -> str:
    # 3-3-2-2, as some people read a long code.
    return _hyphens(" ".join(_group(g, rng) for g in (n[:3], n[3:6], n[6:8], n[8:])), rng)


def _mixed(n: str, rng: random.Random) -> str:
    # The first two digits one by one, then pairs; or four by two, then the rest in pairs.
    cut = rng.choice((2, 4))
    return _hyphens(_digits(n[:cut], rng) + " " + " ".join(_group(n[i:i + 2], rng) for i in range(cut, 10, 2)), rng)


def _doubles(n: str, rng: random.Random) -> str:
    """Digit by digit, with « double » / « triple » for repeated digits."""
    words, i = [], 0
    while i < len(n):
        run = 1
        while i + run < len(n) and n[i + run] == n[i] and run < 3:
            run += 1
        if run >= 2:
            words.append(("double " if run == 2 else "triple ") + _DIGITS[int(n[i])])
        else:
            words.append(_DIGITS[int(n[i])])
        i += run
    return " ".join(words)


def _hesitant(n: str, rng: random.Random) -> str:
    groups = [_group(n[i:i + 2], rng) for i in range(0, 10, 2)]
    for _ in range(rng.randint(1, 2)):
        groups.insert(rng.randint(1, len(groups) - 1), rng.choice(["euh", "heu", "attendez", "euh alors"]))
    return _hyphens(" ".join(groups), rng)


def _filler(n: str, rng: random.Random) -> str:
    head = rng.choice(["alors mon numéro c'est le", "c'est le", "oui alors c'est", "mon numéro de dossier c'est",
                       "euh c'est le numéro", "voilà c'est"])
    body = rng.choice([_pairs, _digits, _mixed])(n, rng)
    return f"{head} {body}"


def _corrected(n: str, rng: random.Random) -> str:
    """A wrong group, then « non pardon » and the right one."""
    cut = rng.choice((2, 4, 6, 8))
    good = n[cut:cut + 2]
    wrong = f"{(int(good) + rng.randint(1, 9)) % 100:02d}"
    said = " ".join(_group(n[i:i + 2], rng) for i in range(0, cut, 2))
    rest = " ".join(_group(n[i:i + 2], rng) for i in range(cut + 2, 10, 2))
    repair = rng.choice(["non pardon", "non", "pardon", "non non", "je veux dire"])
    return _hyphens(f"{said} {_group(wrong, rng)} {repair} {_group(good, rng)} {rest}".strip(), rng)


def _restart(n: str, rng: random.Random) -> str:
    false_start = _digits(n[: rng.randint(2, 5)], rng)
    again = rng.choice(["attendez je recommence", "je recommence", "non je reprends", "reprenons"])
    return f"{false_start} {again} {rng.choice([_pairs, _digits])(n, rng)}"


STYLES: dict[str, Callable[[str, random.Random], str]] = {
    "digit by digit": _digits,
    "pairs": _pairs,
    "triples": _triples,
    "mixed": _mixed,
    "double/triple": _doubles,
    "hesitations": _hesitant,
    "fillers": _filler,
    "corrections": _corrected,
    "restart": _restart,
}


def generate(count: int, seed: int, weights: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """``count`` transcripts: {"style", "number", "text"}; the same for the same seed."""
    rng = random.Random(seed)
    names = list(STYLES)
    w = [(weights or {}).get(name, 1.0) for name in names]
    out = []
    for _ in range(count):
        number = make_file_number(rng.randrange(0, 100_000_000))
        # Numbers made of the ambiguous pairs (60/80 then 1x) are what French makes hard: a third of the corpus.
        if rng.random() < 0.35:
            pairs = [rng.choice(["60", "80", "70", "90", "96", "71", "97"]), rng.choice(["10", "16", "19", "17", "11"])]
            base = pairs[0] + pairs[1] + f"{rng.randrange(0, 10000):04d}"
            number = make_file_number(base)
        style = rng.choices(names, w)[0]
        out.append({"style": style, "number": number, "text": STYLES[style](number, rng)})
    return out


def write_corpus(path: Path, count: int, seed: int) -> None:
    """Write ``count`` spoken file numbers (seeded) to ``path``, one JSON object per line."""
    path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in generate(count, seed)), encoding="utf-8")


def load_corpus(path: Path) -> list[dict[str, Any]]:
    """The spoken file numbers written by :func:`write_corpus`."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def accuracy(corpus: list[dict[str, Any]], parse: Callable[[str], str | None]) -> dict[str, Any]:
    """Right answers per style and in all."""
    table: dict[str, list[int]] = {}
    for entry in corpus:
        right = parse(entry["text"]) == entry["number"]
        table.setdefault(entry["style"], [0, 0])
        table[entry["style"]][0] += right
        table[entry["style"]][1] += 1
    total = sum(r for r, _ in table.values()), sum(n for _, n in table.values())
    return {"per_style": {s: {"right": r, "of": n, "pct": round(100 * r / n, 2)} for s, (r, n) in sorted(table.items())},
            "right": total[0], "of": total[1], "pct": round(100 * total[0] / total[1], 2) if total[1] else None}
