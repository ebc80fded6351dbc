"""Per-slot grammars: only the words a question expects (plus ``[unk]``).

A grammar is what makes a small Vosk model fast (tens of milliseconds
instead of about half a second) and keeps it from hearing words the
question cannot use.
"""

from __future__ import annotations

__all__ = ["GRAMMARS", "grammar_for"]

_NUMBERS = ["zéro", "un", "une", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "onze",
            "douze", "treize", "quatorze", "quinze", "seize", "vingt", "vingts", "trente", "quarante", "cinquante",
            "soixante", "cent", "cents", "et", "double", "triple", "quatre-vingt", "quatre-vingts", "dix-sept",
            "dix-huit", "dix-neuf", "soixante-dix", "quatre-vingt-dix"]
_AGENT = ["conseiller", "conseillère", "un conseiller", "parler à un conseiller", "une personne"]
_FILLERS = ["euh", "alors", "c'est", "le", "mon", "numéro", "de", "dossier"]

GRAMMARS: dict[str, list[str]] = {
    "title_type": [
        "carte grise", "cartes grises", "ma carte grise", "la carte grise", "certificat d'immatriculation",
        "immatriculation", "véhicule", "voiture", "permis", "permis de conduire", "mon permis", "le permis",
        "carte d'identité", "carte nationale d'identité", "ma carte d'identité", "identité", "passeport",
        "mon passeport", "le passeport", "c'est pour", "pour", "pas", "non", "un", "deux", "trois", "quatre",
        "zéro", *_AGENT, *_FILLERS,
    ],
    "file_number": [*_NUMBERS, "non", "pardon", "je recommence", "fois", *_FILLERS, *_AGENT],
    "digits": [*_NUMBERS, "non", "pardon", "je recommence", *_FILLERS],
    "yes_no": [
        "oui", "ouais", "non", "c'est ça", "c'est exact", "exact", "exactement", "tout à fait", "absolument",
        "bien sûr", "d'accord", "pas du tout", "pas", "ce n'est pas ça", "c'est pas ça", "si", "voilà", "correct",
        "je n'en ai pas", "j'en ai un", "merci", "un", "deux", *_AGENT, "euh",
    ],
    "rating": ["un", "une", "deux", "trois", "quatre", "cinq", "sur", "étoile", "étoiles", "je mets", "euh"],
}


def grammar_for(slot: str | None, known_word=None) -> list[str] | None:
    """The phrase list for ``slot`` (None: free dictation).

    ``known_word(word) -> bool`` drops phrases with words the model does not
    have, so the recogniser does not warn on every question.
    """
    if slot is None or slot not in GRAMMARS:
        return None
    phrases = GRAMMARS[slot]
    if known_word is not None:
        # Vosk words may keep the apostrophe (« d'identité ») or not: accept either spelling.
        def known(word: str) -> bool:
            return known_word(word) or ("'" in word and all(known_word(p) for p in word.replace("'", "' ").split()))

        phrases = [p for p in phrases if all(known(w) for w in p.split())]
    # With a model that has none of the words (another language), only [unk] is left.
    return [*dict.fromkeys(phrases), "[unk]"]
