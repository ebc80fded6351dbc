"""Callers who need more time: « répétez » or the repeat key replays the question (and a readback);
« un instant » or the pause key holds it while the caller finds a paper; « moins vite », the slower key
or a second « je n'ai pas compris » slows the rest of the call down. None is a failed try."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.interfaces import PAUSE, REPEAT, Answer
from ivr.server.embedded import embedded_server
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario, load_scenarios
from ivr.understanding.answers import says_not_understood, wants_pause, wants_repeat, wants_slower
from tests.clocks import OPEN
from tests.doubles import ScriptedListenerDouble, said

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("text", ["répétez", "pardon ?", "vous pouvez répéter s'il vous plaît", "comment ?",
                                  "je n'ai pas bien compris", "excusez-moi, pouvez-vous redire", "hein",
                                  "encore une fois s'il vous plaît"])
def test_a_request_to_hear_the_question_again_is_understood(text):
    assert wants_repeat(text)


@pytest.mark.parametrize("text", ["non pardon zéro sept", "carte grise", "comment faire ma carte grise",
                                  "répétez zéro six", "", "oui"])
def test_an_answer_with_a_request_word_in_it_is_still_an_answer(text):
    assert not wants_repeat(text)


def keypad_call(*keys: str, **expect) -> Scenario:
    return Scenario.model_validate({"name": "répéter", "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": k} for k in keys], "expect": expect})


async def test_the_bundled_repeat_scenario_replays_the_menu_and_the_readback():
    async with embedded_server() as srv:
        [r] = await run_scenarios(load_scenarios([ROOT / "ivr/sim/scenarios/07-repeat-keypad.yaml"]), "127.0.0.1",
                                  srv.agi_port, records=srv.memory_records)
    assert r.passed, r.failures
    [menu] = [q for q in r.record["recognition"] if q["node"] == "titre"]
    assert menu["repeats"] == 4 and menu["attempts"] == 1 and menu["nomatch"] == 0
    [confirm] = [q for q in r.record["recognition"] if q["node"].endswith(".confirm")]
    assert confirm["repeats"] == 1


async def test_repeats_past_the_limit_count_as_not_understood():
    # Five repeats are granted (defaults.max_repeats); the sixth « étoile » is a key the menu does not know.
    async with embedded_server() as srv:
        [r] = await run_scenarios([keypad_call(*"******", "1", "2", outcome="routed:contractor",
                                               prompts=["menu_titre_clavier"] * 6 + ["non_compris"])],
                                  "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.passed, r.failures
    [menu] = [q for q in r.record["recognition"] if q["node"] == "titre"]
    assert menu["repeats"] == 5 and menu["nomatch"] == 1 and menu["attempts"] == 2


async def test_a_spoken_repeat_replays_the_question_in_its_first_wording():
    script = ScriptedListenerDouble([Answer("none"), said(REPEAT), said("carte_grise"), said("no")])
    call = Scenario.model_validate({"name": "voix", "call": {"at": OPEN}, "steps": [], "expect": {}})
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["outcome"] == "routed:contractor"
    menus = [prompts for prompts in script.asked if prompts[-1] == "menu_titre"]
    # Not heard, then the question again after « je ne vous ai pas entendu »; on « répétez », the question alone.
    assert menus[1] == ["non_entendu", "menu_titre"] and menus[2] == ["menu_titre"]
    [menu] = [q for q in r.record["recognition"] if q["node"] == "titre"]
    assert menu["repeats"] == 1 and menu["noinput"] == 1 and menu["attempts"] == 2


@pytest.mark.parametrize("text", ["un instant", "attendez je cherche", "une petite seconde s'il vous plaît",
                                  "deux secondes", "ne quittez pas", "un moment je vais le chercher", "patientez"])
def test_a_request_for_time_is_understood(text):
    assert wants_pause(text)


@pytest.mark.parametrize("text", ["une seconde fois zéro six", "deux", "j'attends", "je préfère attendre",
                                  "carte grise", ""])
def test_an_answer_is_not_taken_for_a_request_for_time(text):
    # « j'attends » answers the callback offer (no: the caller waits in the queue).
    assert not wants_pause(text)


async def test_the_bundled_pause_scenario_waits_for_the_caller_to_find_the_number():
    async with embedded_server() as srv:
        [r] = await run_scenarios(load_scenarios([ROOT / "ivr/sim/scenarios/08-pause-keypad.yaml"]), "127.0.0.1",
                                  srv.agi_port, records=srv.memory_records)
    assert r.passed, r.failures
    [number] = [q for q in r.record["recognition"] if q["node"] == "numero"]
    assert (number["pauses"], number["attempts"], number["noinput"], number["invalid"]) == (1, 1, 0, 0)


async def test_when_the_pause_runs_out_the_question_is_asked_again_without_a_failed_try():
    # 60 s of hold (four reminders' worth of silence), then the question again, then the number.
    async with embedded_server() as srv:
        [r] = await run_scenarios([Scenario.model_validate({
            "name": "pause", "call": {"at": OPEN},
            "steps": [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "1"},
                      {"kind": "press", "digits": "9"}, *[{"kind": "silence"}] * 4,
                      {"kind": "press", "digits": "5458443881#"}, {"kind": "press", "digits": "1"}],
            "expect": {"prompts": ["demande_numero_clavier", "pause_debut", "pause_rappel", "pause_rappel",
                                   "pause_rappel", "demande_numero_clavier", "vous_avez_dit"]}})],
                                  "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.passed, r.failures
    [number] = [q for q in r.record["recognition"] if q["node"] == "numero"]
    assert (number["pauses"], number["attempts"], number["noinput"]) == (1, 1, 0)


async def test_a_spoken_request_for_time_holds_the_question_and_the_answer_given_then_is_taken():
    script = ScriptedListenerDouble([said(PAUSE), Answer("none"), said("carte_grise"), said("no")])
    call = Scenario.model_validate({"name": "voix", "call": {"at": OPEN}, "steps": [], "expect": {}})
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["outcome"] == "routed:contractor"
    heard = [prompts[-1] for prompts in script.asked]
    assert heard[:4] == ["menu_titre", "pause_debut", "pause_rappel", "question_dossier"]
    [menu] = [q for q in r.record["recognition"] if q["node"] == "titre"]
    assert (menu["pauses"], menu["attempts"], menu["noinput"]) == (1, 1, 0)


@pytest.mark.parametrize("text, slower", [("moins vite s'il vous plaît", True), ("vous parlez trop vite", True),
                                          ("plus lentement", True), ("lentement zéro six", False), ("vite", False)])
def test_a_request_for_slower_speech_is_understood(text, slower):
    assert wants_slower(text) is slower


def _readback_seconds(result) -> float:
    """How long the file number's readback (the sentence after « vous avez indiqué ») played."""
    events = [e.text for e in result.trace.channel.events if e.who == "note" and e.text.startswith("plays ")]
    after = events.index(next(e for e in events if e.startswith("plays vous_avez_dit")))
    return float(events[after + 1].rsplit("(", 1)[1].split(" ")[0])


async def test_the_slower_key_slows_the_rest_of_the_call_down():
    scenarios = load_scenarios([ROOT / "ivr/sim/scenarios/01-self-served-keypad.yaml",
                                ROOT / "ivr/sim/scenarios/09-slower-keypad.yaml"])
    async with embedded_server() as srv:
        normal, slow = await run_scenarios(scenarios, "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert normal.passed and slow.passed, (normal.failures, slow.failures)
    played = [e.text for e in slow.trace.channel.events if e.who == "ivr" and " /" in e.text]
    menu_again = played.index(next(c for c in played if "/lent/" in c))
    # From the menu played again, every catalog prompt is the slower rendering.
    assert all("/lent/" in c for c in played[menu_again:] if "/prompts/wav/" in c), played
    assert not any("/lent/" in c for c in played[:menu_again])
    # The number read back one digit at a time, at the slower rate: much longer than in scenario 01.
    assert _readback_seconds(slow) > 1.5 * _readback_seconds(normal)
    [menu] = [q for q in slow.record["recognition"] if q["node"] == "titre"]
    assert menu["slowed"] and menu["repeats"] == 1 and menu["nomatch"] == 0


async def test_the_second_i_did_not_understand_slows_the_line_down():
    lost = Answer("speech", value=REPEAT, text="je n'ai pas compris", confidence=0.9)
    assert says_not_understood(lost.text)
    script = ScriptedListenerDouble([lost, said("carte_grise"), lost, said("no")])
    call = Scenario.model_validate({"name": "voix", "call": {"at": OPEN}, "steps": [], "expect": {}})
    async with embedded_server() as srv:
        srv.engine.listener = script
        [r] = await run_scenarios([call], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    assert r.record["outcome"] == "routed:contractor"
    # Menu, menu again (normal rate), the file question, the file question again: slower from then on.
    assert [any("/lent/" in p for p in prompts) for prompts in script.paths[:4]] == [False, False, False, True]
