"""French understanding of what a caller said, on text (what Vosk outputs, or a transcript).

Vosk gives lowercase words with numbers spelled out, with or without hyphens
and accents depending on the model. Each slot has one parser:

- ``title_type``: carte grise / permis / carte d'identité / passeport (synonyms,
  filler words, negations, corrections); "conseiller" → ``agent``; the menu
  keys said aloud ("le deux") work too.
- ``file_number``: digits said one by one, in pairs or triples (« soixante-dix-huit »,
  « quatre-vingt-dix-sept »), with « double » / « triple », hesitations (« euh »)
  and repairs (« non, zéro sept », « je recommence »). Returns the digit
  string; the key check is the flow's job.
- ``yes_no``: « oui c'est ça », « non pas du tout », « exact »… → ``yes`` / ``no``.
- ``rating``: 1–5.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "normalise",
    "tokens",
    "parse_title_type",
    "parse_file_number",
    "parse_yes_no",
    "parse_rating",
    "parse_slot",
    "PARSERS",
    "number_words",
    "AGENT",
]

AGENT = "agent"


def normalise(text: str) -> str:
    """Lowercase, no accents; hyphens and apostrophes as spaces (« c'est » → « c est »), single spaces."""
    text = text.lower().replace("’", "'").replace("`", "'")
    text = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    text = re.sub(r"[^a-z0-9 ]+", " ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return normalise(text).split()


# -- numbers ------------------------------------------------------------------

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


def _unit(tok: str | None, *, allow_zero: bool = True) -> int | None:
    if tok is None:
        return None
    if tok.isdigit() and len(tok) == 1:
        value = int(tok)
    else:
        value = UNITS.get(tok)
    if value is None or (value == 0 and not allow_zero):
        return None
    return value


def _below_twenty_from(toks: list[str], i: int) -> tuple[int, int] | None:
    """10–19 at ``toks[i]``: dix, onze… seize, dix-sept/huit/neuf. Returns (value, next index)."""
    tok = toks[i] if i < len(toks) else None
    if tok == "dix":
        nxt = _unit(toks[i + 1] if i + 1 < len(toks) else None, allow_zero=False)
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
    unit = _unit(toks[j] if j < len(toks) else None, allow_zero=False)
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
    unit = _unit(tok)
    if unit is not None:
        return unit, i + 1
    return None


def _number_from(toks: list[str], i: int) -> tuple[str, int] | None:
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
    if tok in THOUSAND or (_unit(tok, allow_zero=False) is not None and nxt in THOUSAND):
        thousands, j = (1, i + 1) if tok in THOUSAND else (_unit(tok, allow_zero=False), i + 2)
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
    if tok in HUNDRED or (_unit(tok, allow_zero=False) is not None and (_unit(tok) or 0) >= 2 and nxt in HUNDRED):
        base, j = (100, i + 1) if tok in HUNDRED else (_unit(tok) * 100, i + 2)
        rest = _below_hundred_from(toks, j)
        if rest is not None and rest[0] > 0 and not (j < len(toks) and toks[j] in ("zero", "zeros")):
            return base + rest[0], rest[1]
        return base, j
    return _below_hundred_from(toks, i)


_RESTART = re.compile(r"\b(je (re)?commence|recommencer|recommence|recommencons|je reprends|reprendre|reprends|"
                      r"reprenons|depuis le debut|du debut|on recommence|on reprend|attendez je reprends)\b")
_CORRECTION_RE = re.compile(r"\b(je veux dire|je voulais dire|non non|non|pardon|plutot|enfin|erreur|oups|"
                            r"correction|rectification|je me suis trompe|je me trompe)\b")
_MULTIPLIERS = {"double": 2, "triple": 3}


def parse_file_number(text: str) -> str | None:
    """The digits a caller said (« zéro six, soixante-dix-huit… ») as a string, or None if none."""
    # Punctuation in a written transcript marks pauses: numbers do not run across it
    # (« soixante, dix » is 60 then 10). Vosk output has none, so greedy reading applies.
    norm = " | ".join(normalise(part) for part in re.split(r"[,;.!?]", text))
    # A restart anywhere drops what came before it.
    restarts = list(_RESTART.finditer(norm))
    if restarts:
        norm = norm[restarts[-1].end():]
    # Mark corrections with a sentinel token so the word loop can see them.
    norm = _CORRECTION_RE.sub(" <corr> ", norm)
    toks = norm.split()
    groups: list[str] = []
    correcting = False
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok == "<corr>":
            correcting = bool(groups)
            i += 1
            continue
        repeat = 1
        if tok in _MULTIPLIERS or (tok in ("deux", "trois") and i + 1 < len(toks) and toks[i + 1] == "fois"):
            if tok in _MULTIPLIERS:
                repeat, j = _MULTIPLIERS[tok], i + 1
            else:
                repeat, j = UNITS[tok], i + 2
            found = _number_from(toks, j)
            if found is None:
                i += 1
                continue
            digits, i = found[0] * repeat, found[1]
        else:
            if tok in ("un", "une") and _is_article(toks, i):
                i += 1
                continue
            found = _number_from(toks, i)
            if found is None:
                i += 1  # filler word (euh, alors, c'est, numéro…): ignore
                continue
            digits, i = found
        new = [digits]
        if correcting:
            # Gather the whole correction, then let it replace what it restates.
            while i < len(toks) and toks[i] != "<corr>":
                more = _number_from(toks, i) if not (toks[i] in ("un", "une") and _is_article(toks, i)) else None
                if more is None:
                    i += 1
                    continue
                new.append(more[0])
                i = more[1]
            groups = _apply_correction(groups, new)
            correcting = False
            continue
        groups.extend(new)
    result = "".join(groups)
    return result or None


def _is_article(toks: list[str], i: int) -> bool:
    """« un numéro », « une seconde »: an article, not the digit 1."""
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    prev = toks[i - 1] if i > 0 else None
    if nxt in _ARTICLE_NOUNS:
        return True
    near_number = (nxt in NUMBER_WORDS or (nxt or "").isdigit() or prev in NUMBER_WORDS or (prev or "").isdigit()
                   or nxt in _MULTIPLIERS or prev in _MULTIPLIERS)
    alone = len([t for t in toks if t in NUMBER_WORDS or t.isdigit()]) == 1
    return not (near_number or alone)


def _apply_correction(groups: list[str], correction: list[str]) -> list[str]:
    """Replace the end of ``groups`` that ``correction`` restates.

    Digit-by-digit corrections replace as many trailing one-digit groups as
    the correction starts with (« zéro six, non, zéro sept »); a multi-digit
    correction replaces the last group (« soixante-dix-huit, non, soixante-dix-sept »).
    """
    if not groups:
        return correction
    if len(correction[0]) == 1:
        lead = 0
        for g in correction:
            if len(g) != 1:
                break
            lead += 1
        trailing = 0
        for g in reversed(groups):
            if len(g) != 1 or trailing >= lead:
                break
            trailing += 1
        cut = max(trailing, 1)
    else:
        cut = 1
    return groups[: len(groups) - cut] + correction


# -- title type -----------------------------------------------------------------

_TITLE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("cni", re.compile(r"\b(cartes? (nationales? )?d identite|cartes? (nationales? )?identite|c ?n ?i|"
                       r"carte nationale|identite|ci)\b")),
    ("carte_grise", re.compile(r"\b(cartes? grises?|grises?|certificats? d immatriculation|immatricul\w*|"
                               r"vehicules?|voitures?|motos?|scooters?|camions?|camping cars?|plaques?|"
                               r"changement de (titulaire|proprietaire)|cessions?|siv)\b")),
    ("permis", re.compile(r"\b(permis|conduire|conduite|code de la route|auto ecole|autoecole|"
                          r"points? (de|du) permis)\b")),
    ("passeport", re.compile(r"\b(passeports?|passe ports?|passports?)\b")),
    (AGENT, re.compile(r"\b(conseill(er|ere|ers|eres)|agents?|operat(eur|rice|eurs|rices)|humain|"
                       r"une personne|quelqu un|(parler|discuter) (a|avec)|standard|standardiste)\b")),
]
_NEGATION = {"pas", "ni", "sauf", "plus", "aucun", "aucune", "jamais"}
_TITLE_KEYS = {"1": "carte_grise", "2": "permis", "3": "cni", "4": "passeport", "0": AGENT}
#: Words that may surround a menu key said aloud (« c'est le deux », « touche trois »).
_KEY_FILLERS = {"le", "la", "l", "touche", "tape", "tapez", "taper", "je", "c", "est", "euh", "alors", "choix",
                "option", "numero", "ce", "sera", "donc", "bah", "ben", "heu", "hum"}
#: « le premier », « la deuxième »: menu choices said as ordinals.
_ORDINALS = {"premier": "1", "premiere": "1", "deuxieme": "2", "second": "2", "seconde": "2", "troisieme": "3",
             "quatrieme": "4"}


def parse_title_type(text: str) -> str | None:
    """carte_grise / permis / cni / passeport / ``agent``, or None when unclear."""
    norm = normalise(text)
    if not norm:
        return None
    mentions: list[tuple[int, str]] = []  # (token index, value)
    spans: list[tuple[int, int]] = []
    for value, pattern in _TITLE_PATTERNS:
        for m in pattern.finditer(norm):
            if any(s <= m.start() < e for s, e in spans):
                continue  # « carte d'identité » already claimed these words
            spans.append((m.start(), m.end()))
            mentions.append((len(norm[: m.start()].split()), value))
    toks = norm.split()
    positions = sorted(pos for pos, _ in mentions)
    kept = [(pos, v) for pos, v in mentions if not _negated(toks, pos, positions)]
    if not kept:
        # The menu keys said aloud: « le deux », « touche quatre », « zéro », « le premier ».
        numbers = [t for t in toks if t in UNITS or t.isdigit() or t in _ORDINALS]
        others = [t for t in toks if t not in numbers and t not in _KEY_FILLERS]
        if len(numbers) == 1 and not others:
            digit = _ORDINALS.get(numbers[0]) or str(_unit(numbers[0]))
            return _TITLE_KEYS.get(digit)
        return None
    if any(v == AGENT for _, v in kept):
        return AGENT
    # After a correction (« …carte grise, non, pardon, le permis »), only what follows counts.
    last_corr = max((i for i, t in enumerate(toks) if t in ("non", "pardon", "plutot", "enfin")), default=-1)
    after = [(p, v) for p, v in kept if p > last_corr]
    if after and len(after) < len(kept):
        kept = after
    values = {v for _, v in kept}
    return values.pop() if len(values) == 1 else None


def _negated(toks: list[str], pos: int, mentions: list[int]) -> bool:
    """« pas pour ma carte grise »: a negation word shortly before the mention, with no other mention between."""
    start = max(0, pos - 4, max((p + 1 for p in mentions if p < pos), default=0))
    return any(t in _NEGATION for t in toks[start:pos])


# -- yes / no -------------------------------------------------------------------

_NO = re.compile(
    r"\b(pas du tout|absolument pas|surement pas|certainement pas|evidemment pas|bien sur que non|"
    r"pas (vraiment|exactement|exact|correct|juste|bon|ca|celui la|le bon|la bonne|encore|trop|tellement|d accord)|"
    r"ce n est pas|c est pas|n est pas|je n en ai pas|je n ai pas|j en ai pas|j ai pas|je l ai pas|"
    r"pas de numero|pas besoin|pas la peine|ce n est pas la peine|surtout pas|plutot pas|je prefere attendre|"
    r"j attends|je patiente|je vais patienter|aucun|aucune|non|nan|nenni|negatif|faux|incorrect|inexact|jamais|erreur|"
    r"vous vous (etes )?trompe\w*|c est faux|no)\b")
_YES = re.compile(
    r"\b(oui|ouais|ouai|wouais|ouep|yes|yep|exact|exactement|c est (bien )?ca|c est (bien )?(exact|correct|juste|bon)|"
    r"tout a fait|absolument|bien sur|d accord|ok|okay|okey|correct|affirmatif|voila|parfait|en effet|"
    r"effectivement|certainement|evidemment|tout juste|je confirme|confirme|confirmer|j en ai un|j en ai une|"
    r"je l ai|j ai (un|mon|le) numero|si|bien entendu|carrement|volontiers|pas de souci|pas de probleme|"
    r"sans probleme|avec plaisir|ca marche|entendu|je veux bien|allez y|rappelez moi|d accord pour)\b")
_YES_NO_KEYS = {"1": "yes", "2": "no", "un": "yes", "une": "yes", "deux": "no"}


def parse_yes_no(text: str) -> str | None:
    """``yes`` / ``no`` (or ``agent``), or None. The last of the answers given wins (« oui… euh non » → no)."""
    norm = normalise(text)
    if not norm:
        return None
    toks = norm.split()
    if len(toks) == 1 and toks[0] in _YES_NO_KEYS:
        return _YES_NO_KEYS[toks[0]]
    if len(toks) <= 3 and toks[-1] in _YES_NO_KEYS and toks[0] in ("touche", "le", "la", "tape", "je", "un", "deux"):
        if all(t in ("touche", "le", "la", "tape", "je", "tape") or t in _YES_NO_KEYS for t in toks):
            return _YES_NO_KEYS[toks[-1]]
    hits: list[tuple[int, int, str]] = []
    for m in _NO.finditer(norm):
        hits.append((m.start(), m.end(), "no"))
    for m in _YES.finditer(norm):
        if not any(s <= m.start() < e or s < m.end() <= e for s, e, _ in hits):
            hits.append((m.start(), m.end(), "yes"))
    if not hits:
        if _TITLE_PATTERNS[-1][1].search(norm):
            return AGENT
        return None
    hits.sort()
    return hits[-1][2]


# -- rating ---------------------------------------------------------------------


def parse_rating(text: str) -> str | None:
    """A 1–5 rating (« cinq sur cinq », « je mets quatre »), or None."""
    toks = tokens(text)
    i = 0
    while i < len(toks):
        if toks[i] in ("un", "une") and _is_article(toks, i):
            i += 1
            continue
        found = _number_from(toks, i)
        if found is not None:
            return found[0] if found[0] in ("1", "2", "3", "4", "5") else None
        i += 1
    return None


PARSERS: dict[str, Callable[[str], str | None]] = {
    "title_type": parse_title_type,
    "file_number": parse_file_number,
    "digits": parse_file_number,
    "yes_no": parse_yes_no,
    "rating": parse_rating,
}


def parse_slot(slot: str, text: str) -> str | None:
    """Understand ``text`` for ``slot``; None when it was not understood."""
    try:
        parser = PARSERS[slot]
    except KeyError:
        raise ValueError(f"unknown slot {slot!r}; one of {', '.join(sorted(PARSERS))}") from None
    return parser(text)


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
