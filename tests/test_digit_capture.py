"""Spoken file numbers: every reading weighed by the length and the key, the recogniser's hypotheses,
a confirmation that offers the other reading, and a second try in parts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.ants3400.file_numbers import file_number_readings, is_valid_file_number, make_file_number
from ivr.ants3400.profile import FILE_NUMBER, parse_slot
from ivr.bench.digit_corpus import STYLES, accuracy, generate, load_corpus
from ivr.interfaces import Answer, Question
from ivr.listening.speech import SpeechListener
from ivr.listening.vosk import Recognition
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.understanding.digits import parse_digits
from ivr.understanding.readings import digit_readings
from tests.clocks import OPEN
from tests.doubles import ScriptedListenerDouble, said

CORPUS = Path(__file__).resolve().parent / "data" / "file_numbers.jsonl"


def test_the_issues_examples_are_read_as_the_caller_meant():
    # 60 60 16 16 07 and 13 80 19 00 36: read greedily they were 8-digit numbers.
    assert parse_digits("soixante soixante seize seize zéro sept") == "60761607"
    assert parse_slot("file_number", "soixante soixante seize seize zéro sept") == "6060161607"
    assert parse_slot("file_number", "treize quatre-vingts dix-neuf zéro zéro trente-six") == "1380190036"
    assert all(is_valid_file_number(n) for n in ("6060161607", "1380190036"))


def test_french_ambiguities_have_every_reading():
    assert [r.digits for r in digit_readings("soixante-dix")] == ["70", "6010"]
    assert {"99", "8019", "42019"} <= {r.digits for r in digit_readings("quatre-vingt-dix-neuf")}
    assert {"180", "10080"} <= {r.digits for r in digit_readings("cent quatre-vingts")}
    # The natural reading comes first: « soixante-seize » is one group.
    assert digit_readings("soixante-seize")[0].digits == "76"


def test_the_corpus_is_the_generators_and_covers_every_style():
    corpus = load_corpus(CORPUS)
    assert len(corpus) >= 1000
    assert corpus == generate(len(corpus), 3400)  # reproducible: the file is what the generator gives
    assert {e["style"] for e in corpus} == set(STYLES)
    assert all(is_valid_file_number(e["number"]) for e in corpus)


def test_file_numbers_are_right_on_at_least_995_per_thousand_of_the_corpus():
    result = accuracy(load_corpus(CORPUS), lambda text: parse_slot("file_number", text))
    assert result["pct"] >= 99.5, result
    greedy = accuracy(load_corpus(CORPUS), parse_digits)
    assert greedy["pct"] < result["pct"]


def test_and_on_a_held_out_set_weighted_toward_pairs_and_triples():
    held_out = generate(800, 17, {"pairs": 3, "triples": 3, "corrections": 2})
    result = accuracy(held_out, lambda text: parse_slot("file_number", text))
    assert result["pct"] >= 99.5, result


def test_ivr_parse_uses_the_same_reading():
    out = subprocess.run([sys.executable, "-m", "ivr", "parse", "--slot", "file_number",
                          "soixante soixante seize seize zéro sept"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["value"] == "6060161607"


def test_the_first_hypothesis_whose_reading_passes_the_key_wins():
    good = make_file_number(54584438)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    words = {d: w for d, w in zip("0123456789", ["zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept",
                                                 "huit", "neuf"], strict=True)}
    spoken = [" ".join(words[d] for d in n) for n in (bad, good)]
    recognition = Recognition(text=spoken[0], confidence=0.6, alternatives=[(spoken[0], 0.6), (spoken[1], 0.4)])
    question = Question(prompts=["p"], slot=FILE_NUMBER, speech=True)
    text, confidence, chosen, value, _ = SpeechListener._understand(question, recognition)
    assert (chosen, value, confidence) == (1, good, 0.4)
    # No hypothesis passes: the best one stands (the question then says the number is not valid).
    only_bad = Recognition(text=spoken[0], confidence=0.9, alternatives=[(spoken[0], 0.9)])
    assert SpeechListener._understand(question, only_bad)[3] == bad


def call() -> Scenario:
    return Scenario.model_validate({"name": "parole", "call": {"at": OPEN}, "steps": [], "expect": {}})


async def test_a_number_with_a_wrong_key_is_asked_again_in_two_parts_each_read_back():
    script = ScriptedListenerDouble([
        said("carte_grise"), said("yes"),
        said("5458443880"),                     # a wrong key: asked again in parts
        said("5458"), said("yes"),              # « les quatre premiers chiffres », read back, confirmed
        said("443881"), said("yes"),            # « les six derniers », read back, confirmed
        said("yes"), Answer("dtmf", digits="5"),
    ])
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["outcome"] == "self_served", r.record
    assert r.record["slots"]["file_number"] == "********81"
    asked = [prompts[-1] for prompts in script.asked]
    assert asked[2:7] == ["demande_numero", "numero_debut", "est_ce_exact", "numero_suite", "est_ce_exact"]
    assert "numero_invalide" in r.trace.channel.prompts  # the caller hears why first
    parts = [e["node"] for e in r.record["recognition"]]
    assert "numero.part1" in parts and "numero.part2" in parts
    # Each part was read back (« vous avez indiqué le numéro … »); no second confirmation of the whole.
    assert r.trace.channel.prompts.count("vous_avez_dit") == 2


async def test_a_refused_reading_is_followed_by_the_other_one():
    meant = "6019789316"
    heard = file_number_readings("soixante dix neuf euh soixante dix huit quatre vingt treize euh seize")
    assert heard[0] != meant and meant in heard
    script = ScriptedListenerDouble([
        said("carte_grise"), said("yes"),
        said(heard[0], alternatives=heard[1:]),
        said("no"),                             # « vous avez indiqué 79 78 80 13 16 ? » — non
        said("yes"),                            # « vous avez indiqué 60 19 78 93 16 ? » — oui
    ])
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["slots"]["file_number"] == "********16"
    assert r.record["lookups"][0]["status"] in ("found", "not_found")  # looked up with the confirmed reading
    assert [p[-1] for p in script.asked[2:5]] == ["demande_numero", "est_ce_exact", "est_ce_exact"]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_reads_right(style):
    corpus = [e for e in load_corpus(CORPUS) if e["style"] == style]
    wrong = [e for e in corpus if parse_slot("file_number", e["text"]) != e["number"]]
    assert len(wrong) <= max(1, len(corpus) // 100), wrong[:3]
