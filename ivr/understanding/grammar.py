"""Grammars: only the words a question expects (plus ``[unk]``).

A grammar is what makes a small Vosk model fast (tens of milliseconds instead of about half a
second) and keeps it from hearing words the question cannot use. Each slot carries its phrases
(:class:`ivr.interfaces.SlotSpec`); the lists here are the generic building blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["NUMBER_PHRASES", "AGENT_PHRASES", "REPEAT_PHRASES", "PAUSE_PHRASES", "SLOWER_PHRASES",
           "REQUEST_PHRASES",
           "FILLER_PHRASES", "CORRECTION_PHRASES", "DIGITS_PHRASES", "YES_NO_PHRASES", "RATING_PHRASES",
           "grammar_for"]

NUMBER_PHRASES = ("zéro", "un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix",
                  "onze", "douze", "treize", "quatorze", "quinze", "seize", "vingt", "vingts", "trente", "quarante",
                  "cinquante", "soixante", "cent", "cents", "et", "double", "triple", "quatre-vingt",
                  "quatre-vingts", "dix-sept", "dix-huit", "dix-neuf", "soixante-dix", "quatre-vingt-dix")
AGENT_PHRASES = ("conseiller", "conseillère", "un conseiller", "parler à un conseiller", "une personne")
REPEAT_PHRASES = ("répétez", "répéter", "vous pouvez répéter", "pardon", "comment", "je n'ai pas compris",
                  "redites")
PAUSE_PHRASES = ("un instant", "un moment", "une seconde", "attendez", "je cherche", "patientez")
SLOWER_PHRASES = ("moins vite", "plus lentement", "lentement", "trop vite")
#: What a caller may ask at any question, whatever it asks: an agent, the question again, time, slower speech.
REQUEST_PHRASES = (*AGENT_PHRASES, *REPEAT_PHRASES, *PAUSE_PHRASES, *SLOWER_PHRASES)
FILLER_PHRASES = ("euh", "alors", "c'est", "le", "mon", "numéro", "de", "dossier")
CORRECTION_PHRASES = ("non", "pardon", "je recommence")

DIGITS_PHRASES = (*NUMBER_PHRASES, *CORRECTION_PHRASES, *FILLER_PHRASES, *REQUEST_PHRASES)
YES_NO_PHRASES = (
    "oui", "ouais", "non", "c'est ça", "c'est exact", "exact", "exactement", "tout à fait", "absolument",
    "bien sûr", "d'accord", "pas du tout", "pas", "ce n'est pas ça", "c'est pas ça", "si", "voilà", "correct",
    "je n'en ai pas", "j'en ai un", "merci", "un", "deux", *REQUEST_PHRASES, "euh",
)
RATING_PHRASES = ("un", "une", "deux", "trois", "quatre", "cinq", "sur", "étoile", "étoiles", "je mets", "euh",
                  *REQUEST_PHRASES)


def grammar_for(phrases: Sequence[str], known_word: Callable[[str], bool] | None = None) -> list[str] | None:
    """The phrase list a recogniser takes (None: free dictation, when there are no phrases).

    ``known_word(word) -> bool`` drops phrases with words the model does not have, so the
    recogniser does not warn on every question.
    """
    if not phrases:
        return None
    kept = list(phrases)
    if known_word is not None:
        # Vosk words may keep the apostrophe (« d'identité ») or not: accept either spelling.
        def known(word: str) -> bool:
            return known_word(word) or ("'" in word and all(known_word(p) for p in word.replace("'", "' ").split()))

        kept = [p for p in kept if all(known(w) for w in p.split())]
    # [unk] takes what is not in the grammar, when the model has it (Vosk warns on every recogniser
    # otherwise). With a model that has none of the words (another language), only [unk] is left.
    unknown = ["[unk]"] if known_word is None or known_word("[unk]") else []
    return [*dict.fromkeys(kept), *unknown]
