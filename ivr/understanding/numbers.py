"""French number words: reading them (« soixante-dix-huit » → 78) and writing them (78 → « soixante-dix-huit »).

Vosk gives lowercase words with numbers spelled out, with or without hyphens and accents depending
on the model; the readers here take normalised tokens (:func:`ivr.understanding.text.tokens`).
"""

from __future__ import annotations

__all__ = ["UNITS", "TEENS", "TENS", "HUNDRED", "THOUSAND", "NUMBER_WORDS", "MULTIPLIERS", "unit_value", "number_from",
           "is_article", "number_words"]

UNITS = {"zero": 0, "zeros": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6,
         "sept": 7, "huit": 8, "neuf": 9}
TEENS = {"dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16}
TENS = {"vingt": 20, "vingts": 20, "trente": 30, "quarante": 40, "cinquante": 50, "soixante": 60,
        "septante": 70, "huitante": 80, "octante": 80, "nonante": 90}
HUNDRED = {"cent", "cents"}
THOUSAND = {"mille", "milles"}
NUMBER_WORDS = set(UNITS) | set(TEENS) | set(TENS) | HUNDRED | THOUSAND

#: Nouns after which « un » / « une » is an article, not a digit.
_ARTICLE_NOUNS = {"numero", "dossier", "instant", "moment", "peu", "petit", "second", "seconde", "conseiller",
                  "agent", "renseignement", "question", "probleme", "titre", "permis", "passeport", "carte",
                  "demande", "chiffre", "personne", "rendez", "rdv"}

#: « double zéro », « triple sept ».
MULTIPLIERS = {"double": 2, "triple": 3}


def unit_value(tok: str | None, *, allow_zero: bool = True) -> int | None:
    """The value of a number word 0–9 (« zéro » only when ``allow_zero``), else None."""
    if tok is None:
        return None
    value: int | None = int(tok) if tok.isdigit() and len(tok) == 1 else UNITS.get(tok)
    if value is None or (value == 0 and not allow_zero):
        return None
    return value


def _below_twenty_from(toks: list[str], i: int) -> tuple[int, int] | None:
    """10–19 at ``toks[i]``: dix, onze… seize, dix-sept/huit/neuf. Returns (value, next index)."""
    tok = toks[i] if i < len(toks) else None
    if tok == "dix":
        nxt = unit_value(toks[i + 1] if i + 1 < len(toks) else None, allow_zero=False)
        if nxt is not None and nxt >= 7:
            return 10 + nxt, i + 2
        return 10, i + 1
    if tok in TEENS:
        return TEENS[tok], i + 1
    return None


def _tens_and_rest(toks: list[str], base: int, j: int, *, teens: bool) -> tuple[int, int]:
    """A tens word (``base``) and what completes it at ``toks[j]``: a unit, or for 60 and 80 a 10–19."""
    if teens:
        teen = _below_twenty_from(toks, j)
        if teen is not None:
            return base + teen[0], teen[1]
    unit = unit_value(toks[j] if j < len(toks) else None, allow_zero=False)
    if unit is not None:
        return base + unit, j + 1
    return base, j


def _below_hundred_from(toks: list[str], i: int) -> tuple[int, int] | None:
    """A number 0–99 starting at ``toks[i]`` (greedy), or None."""
    if i >= len(toks):
        return None
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if tok == "quatre" and nxt in ("vingt", "vingts"):
        after = toks[i + 3] if i + 3 < len(toks) else None
        if i + 2 < len(toks) and toks[i + 2] == "et" and after in ("un", "une", "onze"):
            return 80 + (11 if after == "onze" else 1), i + 4  # quatre-vingt et un (Belgium, Switzerland)
        return _tens_and_rest(toks, 80, i + 2, teens=True)  # quatre-vingt(-dix-sept)
    if tok in TENS:
        base, j = TENS[tok], i + 1
        if j < len(toks) and toks[j] == "et":
            after = toks[j + 1] if j + 1 < len(toks) else None
            if after in ("un", "une", "onze"):
                j += 1
            else:
                return base, j
        return _tens_and_rest(toks, base, j, teens=base == 60)  # soixante(-dix-huit)
    teen = _below_twenty_from(toks, i)
    if teen is not None:
        return teen
    unit = unit_value(tok)
    if unit is not None:
        return unit, i + 1
    return None


def number_from(toks: list[str], i: int) -> tuple[str, int] | None:
    """A spoken number at ``toks[i]`` as the digit string it stands for, and the next index.

    « zéro » → "0", « six » → "6", « soixante-dix-huit » → "78", « cent douze » → "112",
    « deux mille vingt-six » → "2026".
    """
    if i >= len(toks):
        return None
    tok = toks[i]
    if tok.isdigit():
        return tok, i + 1
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    # Thousands: [unit] mille [rest]
    unit = unit_value(tok, allow_zero=False)
    if tok in THOUSAND or (unit is not None and nxt in THOUSAND):
        thousands, j = (1, i + 1) if tok in THOUSAND or unit is None else (unit, i + 2)
        rest = _hundreds_from(toks, j)
        value, j = (thousands * 1000 + rest[0], rest[1]) if rest else (thousands * 1000, j)
        return f"{value:04d}", j
    hundreds = _hundreds_from(toks, i)
    if hundreds is not None and hundreds[0] >= 100:
        return str(hundreds[0]), hundreds[1]
    small = _below_hundred_from(toks, i)
    if small is None:
        return None
    value, j = small
    return str(value), j


def _hundreds_from(toks: list[str], i: int) -> tuple[int, int] | None:
    if i >= len(toks):
        return None
    tok = toks[i]
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    unit = unit_value(tok, allow_zero=False)
    if tok in HUNDRED or (unit is not None and unit >= 2 and nxt in HUNDRED):
        base, j = (100, i + 1) if tok in HUNDRED or unit is None else (unit * 100, i + 2)
        rest = _below_hundred_from(toks, j)
        if rest is not None and rest[0] > 0 and not (j < len(toks) and toks[j] in ("zero", "zeros")):
            return base + rest[0], rest[1]
        return base, j
    return _below_hundred_from(toks, i)
def is_article(toks: list[str], i: int) -> bool:
    """« un numéro », « une seconde »: an article, not the digit 1."""
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    prev = toks[i - 1] if i > 0 else None
    if nxt in _ARTICLE_NOUNS:
        return True
    near_number = (nxt in NUMBER_WORDS or (nxt or "").isdigit() or prev in NUMBER_WORDS or (prev or "").isdigit()
                   or nxt in MULTIPLIERS or prev in MULTIPLIERS)
    alone = len([t for t in toks if t in NUMBER_WORDS or t.isdigit()]) == 1
    return not (near_number or alone)



# -- numbers to words (readback, test tables, simulated callers) -------------------

_UNIT_WORDS = ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"]
_TEEN_WORDS = {10: "dix", 11: "onze", 12: "douze", 13: "treize", 14: "quatorze", 15: "quinze", 16: "seize",
               17: "dix-sept", 18: "dix-huit", 19: "dix-neuf"}
_TEN_WORDS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante"}


def number_words(n: int) -> str:
    """French words for 0–999 with hyphens as written (« soixante-dix-huit », « quatre-vingt-dix-sept »)."""
    if not 0 <= n <= 999:
        raise ValueError("0–999 only")
    if n < 10:
        return _UNIT_WORDS[n]
    if n < 20:
        return _TEEN_WORDS[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        if tens in (7, 9):
            base = "soixante" if tens == 7 else "quatre-vingt"
            rest = 10 + unit
            if tens == 7 and unit == 1:
                return "soixante et onze"
            return f"{base}-{_TEEN_WORDS[rest]}"
        if tens == 8:
            return "quatre-vingts" if unit == 0 else f"quatre-vingt-{_UNIT_WORDS[unit]}"
        if unit == 0:
            return _TEN_WORDS[tens]
        if unit == 1:
            return f"{_TEN_WORDS[tens]} et un"
        return f"{_TEN_WORDS[tens]}-{_UNIT_WORDS[unit]}"
    hundreds, rest = divmod(n, 100)
    head = "cent" if hundreds == 1 else f"{_UNIT_WORDS[hundreds]} cent" + ("s" if rest == 0 else "")
    return head if rest == 0 else f"{head} {number_words(rest)}"
