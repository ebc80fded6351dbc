"""Whether what a caller has said so far is already a whole answer to the question.

A spoken answer normally ends after a trailing silence long enough that a caller who pauses
mid-number is not cut off (0.8 s). When the recogniser's partial result is already a whole answer
(ten digits whose key checks, read as the words plainly say them; a phrase the question
understands that no longer phrase of its grammar begins with), the question can end after a much shorter silence: the caller does not wait
for nothing. What could still go on is never cut: « soixante » may become « soixante-dix-sept »,
« carte » may become « carte grise », « euh » or « le » announce more.
"""

from __future__ import annotations

from ..interfaces import SlotSpec
from .answers import request_in
from .grammar import CORRECTION_PHRASES, FILLER_PHRASES, REQUEST_PHRASES
from .numbers import HUNDRED, MULTIPLIERS, TENS, THOUSAND
from .text import tokens

__all__ = ["is_complete_answer", "nearly_whole", "OPEN_NUMBER_WORDS"]

#: Words a French number can go on after: a tens word (« soixante » → « soixante-dix-sept »,
#: « vingt » → « vingt et un »), « quatre » (« quatre-vingt »), « dix » (« dix-sept » said apart),
#: hundreds, thousands, « et », a multiplier (« double » → « double zéro »).
OPEN_NUMBER_WORDS = frozenset({*TENS, "quatre", "dix", *HUNDRED, *THOUSAND, "et", *MULTIPLIERS})

#: Words after which a caller says more: fillers (« euh », « c'est », « le numéro ») and corrections.
_LEADING_WORDS = frozenset(w for p in (*FILLER_PHRASES, *CORRECTION_PHRASES) for w in tokens(p))
_REQUESTS = frozenset(REQUEST_PHRASES)


def is_complete_answer(slot: SlotSpec | None, text: str) -> bool:
    """Whether ``text`` (a partial result) is a whole answer for ``slot``: nothing the caller may add
    would change it. False whenever in doubt: the question then waits for the usual silence."""
    if slot is None or slot.parse is None or not text.split():
        return False
    words = tokens(text)  # (empty for a text in another script: a model of another language)
    if slot.digits and words and (words[-1] in OPEN_NUMBER_WORDS or words[-1] in _LEADING_WORDS):
        return False
    meaning = _meaning(slot, text)
    return meaning is not None and all(_meaning(slot, longer) == meaning for longer in _longer(slot, words))


def nearly_whole(slot: SlotSpec | None, text: str) -> bool:
    """Whether ``text`` (a partial result, which lags the audio) is at most one digit short of a whole
    digit string: then the recogniser's final result is worth asking for at a pause."""
    if slot is None or not slot.digits or not slot.length or slot.parse is None:
        return False
    read = slot.literal or slot.parse
    return len(read(text) or "") >= slot.length - 1


def _meaning(slot: SlotSpec, text: str) -> str | None:
    """What ``text`` answers: a request (agent, repeat, pause, slower), a value the question takes, or None."""
    request = request_in(text)
    if request is not None:
        return f"<{request}>"
    assert slot.parse is not None
    value = slot.parse(text)
    if not value:
        return None
    if slot.digits:
        # The value must be what the words plainly say: a part of a number can often be *read* as ten
        # digits whose key checks (« six cents septante-quatre, quatre cents soixante-cinq » as
        # 6 100 70 4 …), and the caller has not finished it.
        whole = slot.accept(value) if slot.accept is not None else len(value) == slot.length
        return value if whole and slot.literal is not None and slot.literal(text) == value else None
    return value if value in slot.values else None


def _longer(slot: SlotSpec, words: list[str]) -> list[str]:
    """The texts the caller would have said if the last words begin a longer phrase of the question's
    grammar (« un » → « un conseiller »)."""
    out: list[str] = []
    if not words:
        return out
    for phrase in slot.phrases:
        p = tokens(phrase)
        for k in range(1, len(p)):
            # A request (« un conseiller », « un instant ») is said instead of an answer, not after one:
            # the « un » that ends a file number does not announce « conseiller ».
            if words[-k:] == p[:k] and (len(words) == k or phrase not in _REQUESTS):
                out.append(" ".join([*words[:-k], *p]))
    return out
