"""Short answers: yes / no, a 1–5 rating, and the requests any question takes: an agent (« conseiller »),
the question again (« répétez »), time to find a paper (« un instant »), slower speech (« moins vite »)."""

from __future__ import annotations

import re

from ..interfaces import AGENT, PAUSE, REPEAT, SLOWER
from .numbers import NUMBER_WORDS, is_article, number_from
from .text import normalise, tokens

__all__ = ["AGENT", "AGENT_PATTERN", "REPEAT", "PAUSE", "SLOWER", "request_in", "wants_agent", "wants_repeat", "wants_pause",
           "wants_slower", "says_not_understood", "parse_yes_no", "parse_rating"]

AGENT_PATTERN = re.compile(r"\b(conseill(er|ere|ers|eres)|agents?|operat(eur|rice|eurs|rices)|humain|"
                           r"une personne|quelqu un|(parler|discuter) (a|avec)|standard|standardiste)\b")
#: Words that negate what follows shortly after them (« pas de conseiller »).
NEGATION = {"pas", "ni", "sauf", "plus", "aucun", "aucune", "jamais"}


def wants_agent(text: str) -> bool:
    """Whether the caller asked for a person (« je voudrais parler à un conseiller »), not negated."""
    toks = normalise(text).split()
    norm = " ".join(toks)
    for m in AGENT_PATTERN.finditer(norm):
        pos = len(norm[: m.start()].split())
        if not any(t in NEGATION for t in toks[max(0, pos - 4):pos]):
            return True
    return False


#: « Répétez », « vous pouvez répéter », « pardon ? », « je n'ai pas compris », « redites-moi ».
_REPEAT = re.compile(r"\b(repet\w*|redi(re|tes)|pardon|excusez moi|plait il|vous dites|"
                     r"(je n ai|j ai) pas (bien )?(compris|entendu|saisi)|encore une fois|une autre fois)\b")
#: Words that ask for a repeat only when said alone (« comment ? », « quoi ? », « hein ? »).
_REPEAT_ALONE = {"comment", "quoi", "hein", "pardon"}
#: The longest utterance taken as a request to repeat (a longer one is an answer with a word in it).
_REPEAT_MAX_WORDS = 8


def wants_repeat(text: str) -> bool:
    """Whether the caller asked to hear the question again, and said nothing else that answers it:
    « pardon, zéro sept » is a correction of a number, not a request to repeat."""
    toks = normalise(text).split()
    said_a_number = any((t in NUMBER_WORDS or t.isdigit()) and toks[i + 1:i + 2] not in (["fois"], ["autre"])
                        for i, t in enumerate(toks))  # « une fois », « une autre fois » are no number
    if not toks or len(toks) > _REPEAT_MAX_WORDS or said_a_number:
        return False
    if len(toks) <= 2 and toks[0] in _REPEAT_ALONE:
        return True
    return _REPEAT.search(" ".join(toks)) is not None


#: « Un instant », « attendez », « je cherche », « deux secondes », « ne quittez pas ».
_PAUSE = re.compile(r"\b(un (petit )?instant|un (petit )?moment|une (petite )?seconde|deux secondes|"
                    r"une (petite )?minute|deux minutes|attendez|patientez|ne quittez pas|je (le |les )?cherche|"
                    r"je vais (le |les )?chercher|je regarde|laissez moi (chercher|regarder)|minute)\b")
_PAUSE_MAX_WORDS = 10


def wants_pause(text: str) -> bool:
    """Whether the caller asked the question to wait while they find something, and said nothing else
    that answers it (« une seconde » is a pause; « une seconde fois zéro six » is not)."""
    norm = normalise(text)
    if not norm or len(norm.split()) > _PAUSE_MAX_WORDS:
        return False
    rest = _PAUSE.sub(" ", norm).split()
    return rest != norm.split() and not any(t in NUMBER_WORDS or t.isdigit() for t in rest)


_SLOWER = re.compile(r"\b(moins vite|plus lentement|lentement|trop vite|plus doucement|moins rapide(ment)?|"
                     r"pas si vite|vous parlez (trop )?vite)\b")
_NOT_UNDERSTOOD = re.compile(r"\b(je n ai|j ai) pas (bien |tout )?(compris|saisi)\b")


def wants_slower(text: str) -> bool:
    """Whether the caller asked the line to speak more slowly, and said nothing that answers the question."""
    toks = normalise(text).split()
    if not toks or len(toks) > _REPEAT_MAX_WORDS or any(t in NUMBER_WORDS or t.isdigit() for t in toks):
        return False
    return _SLOWER.search(" ".join(toks)) is not None


def says_not_understood(text: str) -> bool:
    """« Je n'ai pas compris »: a request to repeat that, said twice in a call, also slows the line down."""
    return _NOT_UNDERSTOOD.search(normalise(text)) is not None


def request_in(text: str) -> str | None:
    """What a caller asks instead of answering, whatever the question: :data:`PAUSE` (« deux secondes » is
    no number, whatever a slot reads in it), else :data:`AGENT`, :data:`SLOWER` or :data:`REPEAT`; None."""
    for request, wants in ((PAUSE, wants_pause), (AGENT, wants_agent), (SLOWER, wants_slower),
                           (REPEAT, wants_repeat)):
        if wants(text):
            return request
    return None


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
        if AGENT_PATTERN.search(norm):
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
        if toks[i] in ("un", "une") and is_article(toks, i):
            i += 1
            continue
        found = number_from(toks, i)
        if found is not None:
            return found[0] if found[0] in ("1", "2", "3", "4", "5") else None
        i += 1
    return None
