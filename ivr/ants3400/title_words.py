"""How callers name the 34 00 title types: « ma carte grise », « le permis », « c'est pour un passeport »…"""

from __future__ import annotations

import re

from ..understanding.answers import AGENT, AGENT_PATTERN, NEGATION
from ..understanding.grammar import FILLER_PHRASES, REQUEST_PHRASES
from ..understanding.numbers import UNITS, unit_value
from ..understanding.text import normalise

__all__ = ["TITLE_PHRASES", "parse_title_type"]

#: The title question's grammar.
TITLE_PHRASES = (
    "carte grise", "cartes grises", "ma carte grise", "la carte grise", "certificat d'immatriculation",
    "immatriculation", "véhicule", "voiture", "permis", "permis de conduire", "mon permis", "le permis",
    "carte d'identité", "carte nationale d'identité", "ma carte d'identité", "identité", "passeport",
    "mon passeport", "le passeport", "c'est pour", "pour", "pas", "non", "un", "deux", "trois", "quatre",
    "zéro", *REQUEST_PHRASES, *FILLER_PHRASES,
)

_TITLE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("cni", re.compile(r"\b(cartes? (nationales? )?d identite|cartes? (nationales? )?identite|c ?n ?i|"
                       r"carte nationale|identite|ci)\b")),
    ("carte_grise", re.compile(r"\b(cartes? grises?|grises?|certificats? d immatriculation|immatricul\w*|"
                               r"vehicules?|voitures?|motos?|scooters?|camions?|camping cars?|plaques?|"
                               r"changement de (titulaire|proprietaire)|cessions?|siv)\b")),
    ("permis", re.compile(r"\b(permis|conduire|conduite|code de la route|auto ecole|autoecole|"
                          r"points? (de|du) permis)\b")),
    ("passeport", re.compile(r"\b(passeports?|passe ports?|passports?)\b")),
    (AGENT, AGENT_PATTERN),
]
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
            digit = _ORDINALS.get(numbers[0]) or str(unit_value(numbers[0]))
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
    return any(t in NEGATION for t in toks[start:pos])
