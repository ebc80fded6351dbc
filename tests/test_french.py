"""French slot understanding on text: a broad table, generated and hand-written."""

from __future__ import annotations

import itertools
import random

import pytest

from ivr.ants3400.file_numbers import make_file_number
from ivr.ants3400.profile import parse_slot
from ivr.ants3400.title_words import parse_title_type
from ivr.understanding.answers import parse_rating, parse_yes_no
from ivr.understanding.digits import parse_digits
from ivr.understanding.numbers import number_words

# -- file numbers, generated ---------------------------------------------------------

def _digit_by_digit(n: str) -> str:
    return " ".join(number_words(int(d)) for d in n)


def _pairs(n: str) -> str:
    # A pair starting with 0 is said « zéro six »; others as a number (« soixante-dix-huit »).
    return ", ".join(_digit_by_digit(p) if p[0] == "0" else number_words(int(p)) for p in (n[i:i + 2] for i in range(0, 10, 2)))


def _pairs_plain(n: str) -> str:
    return _pairs(n).replace("-", " ").replace(",", "")


def _mixed(n: str) -> str:
    # First two digit by digit (like a phone prefix), then pairs.
    return _digit_by_digit(n[:2]) + ", " + ", ".join(
            _digit_by_digit(p) if p[0] == "0" else number_words(int(p)) for p in (n[i:i + 2] for i in range(2, 10, 2)))


def _hesitant(n: str) -> str:
    words = _pairs(n).split(", ")
    words.insert(2, "euh")
    return "alors euh c'est le " + ", ".join(words)


def _with_repair(n: str) -> str:
    # Says a wrong last pair, then « non » and the right one.
    last = n[8:]
    wrong = f"{(int(last) + 1) % 100:02d}"
    say = lambda p: _digit_by_digit(p) if p[0] == "0" else number_words(int(p))
    return _pairs(n[:8] + wrong) + ", non pardon, " + say(last)


def _with_restart(n: str) -> str:
    return "un deux trois, attendez, je recommence, " + _digit_by_digit(n)


STYLES = [_digit_by_digit, _pairs, _pairs_plain, _mixed, _hesitant, _with_repair, _with_restart]
_rng = random.Random(3400)
NUMBERS = [make_file_number(_rng.randrange(0, 100_000_000)) for _ in range(40)]
def _ambiguous_without_pauses(n: str) -> bool:
    """« soixante dix » (60 10) and « quatre-vingt dix » (80 1x) read as 70 / 9x when nothing marks the pause."""
    pairs = [n[i:i + 2] for i in range(0, 10, 2)]
    return any(a in ("60", "80") and b[0] == "1" for a, b in itertools.pairwise(pairs))


GENERATED = [(style.__name__, n, style(n)) for n in NUMBERS for style in STYLES
             if not (style is _pairs_plain and _ambiguous_without_pauses(n))]


def test_pause_less_ambiguity_reads_the_longest_number():
    # Without punctuation (Vosk output), « soixante dix » is 70; the mod-97 key then catches a misread.
    assert parse_digits("soixante dix") == "70"
    assert parse_digits("soixante, dix") == "6010"


@pytest.mark.parametrize("style, number, text", GENERATED, ids=[f"{s}-{n}" for s, n, _ in GENERATED])
def test_generated_file_numbers(style, number, text):
    assert parse_digits(text) == number, text


def test_number_words_round_trip():
    for n in range(1000):
        assert parse_digits(number_words(n)) == str(n), number_words(n)


# -- file numbers, hand-written ------------------------------------------------------

FILE_NUMBERS = [
    ("zéro six soixante-dix-huit quarante-trois vingt et un quatre-vingt-dix-sept", "0678432197"),
    ("zero six soixante dix huit quarante trois vingt et un quatre vingt dix sept", "0678432197"),
    ("double zéro un deux trois quatre cinq six sept huit", "0012345678"),
    ("triple sept deux", "7772"),
    ("deux fois six", "66"),
    ("soixante et onze", "71"),
    ("soixante et un", "61"),
    ("quatre-vingts", "80"),
    ("quatre vingt un", "81"),
    ("quatre-vingt-onze", "91"),
    ("septante deux nonante huit", "7298"),
    ("cent douze", "112"),
    ("deux cent cinq", "205"),
    ("dix-sept dix huit dix neuf", "171819"),
    ("mon numéro de dossier c'est le un deux trois quatre cinq six sept huit neuf quatre", "1234567894"),
    ("oui j'ai un numéro c'est cinq quatre cinq huit quatre quatre trois huit huit un", "5458443881"),
    ("euh zéro six soixante-dix-huit non soixante-dix-sept", "0677"),
    ("zéro six non zéro sept", "07"),
    ("zéro six, euh non pardon, zéro sept, douze", "0712"),
    ("un deux trois je recommence quatre cinq", "45"),
    ("c'est le 06 78 43", "067843"),
    ("vingt trois", "23"),
    ("vingt-trois", "23"),
    ("trente et un", "31"),
    ("je ne sais pas", None),
    ("euh", None),
    ("", None),
    ("attendez une seconde", None),
    ("un instant je cherche", None),
    ("zéro", "0"),
    ("un deux trois reprenons quatre cinq", "45"),
]


@pytest.mark.parametrize("text, expected", FILE_NUMBERS)
def test_file_numbers(text, expected):
    assert parse_digits(text) == expected


# -- title types -----------------------------------------------------------------------

TITLES = [
    ("carte grise", "carte_grise"),
    ("c'est pour ma carte grise", "carte_grise"),
    ("c est pour une carte grise", "carte_grise"),
    ("les cartes grises", "carte_grise"),
    ("certificat d'immatriculation", "carte_grise"),
    ("certificat d immatriculation", "carte_grise"),
    ("l'immatriculation de ma voiture", "carte_grise"),
    ("j'ai vendu mon véhicule", "carte_grise"),
    ("changement de titulaire", "carte_grise"),
    ("pour ma moto", "carte_grise"),
    ("euh c'est pour la carte grise s'il vous plaît", "carte_grise"),
    ("permis", "permis"),
    ("permis de conduire", "permis"),
    ("c'est pour mon permis de conduire", "permis"),
    ("mon permis", "permis"),
    ("le permis de conduire international", "permis"),
    ("j'ai réussi le code de la route", "permis"),
    ("pour un permis", "permis"),
    ("carte d'identité", "cni"),
    ("carte nationale d'identité", "cni"),
    ("ma carte d identité", "cni"),
    ("la carte identité", "cni"),
    ("c n i", "cni"),
    ("cni", "cni"),
    ("pour une pièce d'identité", "cni"),
    ("passeport", "passeport"),
    ("un passeport", "passeport"),
    ("pour le passeport de ma fille", "passeport"),
    ("passeports", "passeport"),
    ("conseiller", "agent"),
    ("je voudrais parler à un conseiller", "agent"),
    ("un conseiller s'il vous plaît", "agent"),
    ("une conseillère", "agent"),
    ("parler à quelqu'un", "agent"),
    ("je veux parler à une personne", "agent"),
    ("un opérateur", "agent"),
    ("pas pour la carte grise mais pour le permis", "permis"),
    ("non pas le passeport la carte d'identité", "cni"),
    ("carte grise non pardon le permis", "permis"),
    ("c'est pour le permis enfin plutôt le passeport", "passeport"),
    ("carte grise et permis", None),
    ("carte", None),
    ("euh", None),
    ("bonjour", None),
    ("", None),
    ("je ne sais pas", None),
    ("un", "carte_grise"),
    ("le deux", "permis"),
    ("touche trois", "cni"),
    ("quatre", "passeport"),
    ("zéro", "agent"),
    ("neuf", None),
    ("le premier", "carte_grise"),
    ("la deuxième", "permis"),
    ("c'est pour le renouvellement de mon passeport", "passeport"),
    ("un duplicata de permis", "permis"),
    ("ni l'un ni l'autre", None),
    ("pour mon titre de séjour", None),
    ("j'ai vendu ma voiture et je voudrais savoir où en est la carte grise", "carte_grise"),
]


@pytest.mark.parametrize("text, expected", TITLES)
def test_title_types(text, expected):
    assert parse_title_type(text) == expected


# -- yes / no -------------------------------------------------------------------------

YES_NO = [
    ("oui", "yes"), ("ouais", "yes"), ("oui oui", "yes"), ("oui c'est ça", "yes"), ("c'est ça", "yes"),
    ("c'est bien ça", "yes"), ("exact", "yes"), ("exactement", "yes"), ("c'est exact", "yes"),
    ("tout à fait", "yes"), ("absolument", "yes"), ("bien sûr", "yes"), ("d'accord", "yes"), ("ok", "yes"),
    ("c'est correct", "yes"), ("affirmatif", "yes"), ("voilà", "yes"), ("oui merci", "yes"),
    ("effectivement", "yes"), ("oui j'en ai un", "yes"), ("j'en ai un", "yes"), ("je l'ai", "yes"),
    ("si", "yes"), ("oui je confirme", "yes"), ("euh oui", "yes"), ("c'est juste", "yes"),
    ("non", "no"), ("nan", "no"), ("non non", "no"), ("non pas du tout", "no"), ("pas du tout", "no"),
    ("non merci", "no"), ("c'est pas ça", "no"), ("ce n'est pas ça", "no"), ("pas exactement", "no"),
    ("pas exact", "no"), ("c'est faux", "no"), ("bien sûr que non", "no"), ("absolument pas", "no"),
    ("non je n'en ai pas", "no"), ("je n'ai pas de numéro", "no"), ("j'en ai pas", "no"), ("pas d'accord", "no"),
    ("oui euh non", "no"), ("non enfin oui", "yes"), ("incorrect", "no"), ("négatif", "no"), ("aucun", "no"),
    ("pas vraiment", "no"), ("vous vous êtes trompé", "no"),
    ("un", "yes"), ("deux", "no"), ("touche un", "yes"), ("le deux", "no"),
    ("conseiller", "agent"), ("je veux parler à un conseiller", "agent"),
    ("euh", None), ("je ne sais plus", None), ("", None), ("bonjour", None), ("peut-être", None),
    ("pas de souci", "yes"), ("oui pas de problème", "yes"), ("avec plaisir", "yes"), ("rappelez-moi", "yes"),
    ("je préfère attendre", "no"), ("non j'attends", "no"), ("pas la peine", "no"), ("ça marche", "yes"),
]


@pytest.mark.parametrize("text, expected", YES_NO)
def test_yes_no(text, expected):
    assert parse_yes_no(text) == expected


RATINGS = [("cinq", "5"), ("cinq sur cinq", "5"), ("je mets quatre", "4"), ("trois étoiles", "3"), ("deux", "2"),
           ("un", "1"), ("une étoile", "1"), ("la note de quatre", "4"), ("neuf", None), ("zéro", None),
           ("euh", None), ("dix", None), ("cinq", "5")]


@pytest.mark.parametrize("text, expected", RATINGS)
def test_ratings(text, expected):
    assert parse_rating(text) == expected


def test_unknown_slot():
    with pytest.raises(ValueError):
        parse_slot("colour", "bleu")


def test_cli_prints_one_json_object_per_line():
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ivr", "parse", "--slot", "yes_no", "oui c'est ça", "euh"],
                         capture_output=True, text=True, check=True)
    assert [json.loads(l) for l in out.stdout.splitlines()] == [
        {"text": "oui c'est ça", "value": "yes"}, {"text": "euh", "value": None}]
