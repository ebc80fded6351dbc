"""A digit string as a caller says it: digit by digit, in pairs or triples (« soixante-dix-huit »),
with « double » / « triple », hesitations (« euh ») and repairs (« non, zéro sept », « je recommence »).

Returns the digits heard; whether they make a valid number (length, key) is the question's business.
"""

from __future__ import annotations

import re

from .numbers import MULTIPLIERS, UNITS, is_article, number_from
from .text import normalise

__all__ = ["parse_digits", "spoken_tokens", "CORRECTED", "RESTART", "CORRECTION", "apply_correction", "restated"]

RESTART = re.compile(r"\b(je (re)?commence|recommencer|recommence|recommencons|je reprends|reprendre|reprends|"
                      r"reprenons|depuis le debut|du debut|on recommence|on reprend|attendez je reprends)\b")
CORRECTION = re.compile(r"\b(je veux dire|je voulais dire|non non|non|pardon|plutot|enfin|erreur|oups|"
                            r"correction|rectification|je me suis trompe|je me trompe)\b")


#: The token :func:`spoken_tokens` puts where the caller corrected themselves.
CORRECTED = "<corr>"


def spoken_tokens(text: str) -> list[str]:
    """A transcript as normalised words, from the caller's last restart on, with each correction
    (« non, pardon… ») as the token :data:`CORRECTED` and each pause (punctuation) as ``|``."""
    # Punctuation in a written transcript marks pauses: numbers do not run across it
    # (« soixante, dix » is 60 then 10). Vosk output has none, so greedy reading applies.
    norm = " | ".join(normalise(part) for part in re.split(r"[,;.!?]", text))
    # A restart anywhere drops what came before it.
    restarts = list(RESTART.finditer(norm))
    if restarts:
        norm = norm[restarts[-1].end():]
    return CORRECTION.sub(f" {CORRECTED} ", norm).split()


def parse_digits(text: str) -> str | None:
    """The digits a caller said (« zéro six, soixante-dix-huit… ») as a string, or None if none."""
    toks = spoken_tokens(text)
    groups: list[str] = []
    correcting = False
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok == CORRECTED:
            correcting = bool(groups)
            i += 1
            continue
        repeat = 1
        if tok in MULTIPLIERS or (tok in ("deux", "trois") and i + 1 < len(toks) and toks[i + 1] == "fois"):
            if tok in MULTIPLIERS:
                repeat, j = MULTIPLIERS[tok], i + 1
            else:
                repeat, j = UNITS[tok], i + 2
            found = number_from(toks, j)
            if found is None:
                i += 1
                continue
            digits, i = found[0] * repeat, found[1]
        else:
            if tok in ("un", "une") and is_article(toks, i):
                i += 1
                continue
            found = number_from(toks, i)
            if found is None:
                i += 1  # filler word (euh, alors, c'est, numéro…): ignore
                continue
            digits, i = found
        new = [digits]
        if correcting:
            # Gather the whole correction, then let it replace what it restates.
            while i < len(toks) and toks[i] != CORRECTED:
                more = number_from(toks, i) if not (toks[i] in ("un", "une") and is_article(toks, i)) else None
                if more is None:
                    i += 1
                    continue
                new.append(more[0])
                i = more[1]
            groups = apply_correction(groups, new)
            correcting = False
            continue
        groups.extend(new)
    result = "".join(groups)
    return result or None


def restated(correction: list[str]) -> int:
    """How many digits a correction restates: its first group's (« non, soixante-dix-sept »: two), or
    its run of single digits (« non, zéro sept »: two); what follows continues the number."""
    if not correction:
        return 0
    if len(correction[0]) > 1:
        return len(correction[0])
    run = 0
    for g in correction:
        if len(g) != 1:
            break
        run += 1
    return run


def apply_correction(groups: list[str], correction: list[str], amount: int | None = None) -> list[str]:
    """Replace the end of ``groups`` that ``correction`` restates (``amount`` digits; by default
    :func:`restated`): whole groups go, from the end, until that many digits are gone."""
    if not groups:
        return correction
    wanted = restated(correction) if amount is None else amount
    removed = 0
    kept = list(groups)
    while kept and removed < wanted:
        removed += len(kept.pop())
    return kept + correction
