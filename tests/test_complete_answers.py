"""A spoken answer that is already whole ends the question after a short pause, not after the usual
trailing silence: no dead time after « … quatre-vingt-dix-sept » (issue 29, item 7). What could go on
is never cut."""

from __future__ import annotations

import asyncio

import pytest

from ivr.ants3400.file_numbers import file_number_key, make_file_number
from ivr.ants3400.profile import FILE_NUMBER, TITLE_TYPE
from ivr.audio.vad import EndpointConfig, Endpointer
from ivr.edges.audiosocket.protocol import KIND_AUDIO, encode_frame
from ivr.engine.defaults import Defaults
from ivr.interfaces import Question
from ivr.listening.speech import SpeechListener, SpeechSettings
from ivr.listening.vosk import Recognition
from ivr.understanding.complete import is_complete_answer
from ivr.understanding.numbers import number_words
from ivr.understanding.slots import GENERIC_SLOTS
from tests.audiosocket_peer import connected_peer
from tests.test_audiosocket import silence, tone

DEADLINE = 30


def said_in_pairs(number: str) -> str:
    """« zéro six, soixante-dix-huit, … »: how most callers say a file number."""
    return " ".join(number_words(int(number[i:i + 2])) if number[i] != "0" else f"zéro {number_words(int(number[i + 1]))}"
                    for i in range(0, 10, 2))


def first8_with_key(key: str) -> str:
    return next(f"{n:08d}" for n in range(12345600, 12345700) if file_number_key(f"{n:08d}") == key)


@pytest.mark.parametrize("text", [
    said_in_pairs(make_file_number(12345678)),
    " ".join(number_words(int(d)) for d in make_file_number(55555555)),
])
def test_a_number_whose_key_checks_is_whole(text):
    assert is_complete_answer(FILE_NUMBER, text)


def test_nine_digits_or_a_wrong_key_are_not_whole():
    number = make_file_number(12345678)
    assert not is_complete_answer(FILE_NUMBER, " ".join(number_words(int(d)) for d in number[:9]))
    wrong = number[:9] + str((int(number[9]) + 1) % 10)
    assert not is_complete_answer(FILE_NUMBER, " ".join(number_words(int(d)) for d in wrong))


@pytest.mark.parametrize("tail", ["soixante", "quatre-vingt", "vingt", "cent", "et", "double", "euh", "non"])
def test_a_number_that_may_go_on_is_never_cut(tail):
    """« … soixante » may become « soixante-dix-sept »: even when it reads as a valid number now, the
    question waits for the usual silence."""
    if tail in ("soixante", "vingt", "quatre-vingt"):
        value = {"soixante": "60", "vingt": "20", "quatre-vingt": "80"}[tail]
        first8 = first8_with_key(value)
        text = " ".join(number_words(int(d)) for d in first8) + " " + tail
        assert FILE_NUMBER.parse and FILE_NUMBER.parse(text) == first8 + value  # a valid reading now
    else:
        text = said_in_pairs(make_file_number(12345678)) + " " + tail
    assert not is_complete_answer(FILE_NUMBER, text)


@pytest.mark.parametrize(("slot", "text", "whole"), [
    (TITLE_TYPE, "c'est pour ma carte grise", True),
    (TITLE_TYPE, "permis", True),  # « permis de conduire » would mean the same
    (TITLE_TYPE, "le passeport", True),
    (TITLE_TYPE, "carte", False),  # « carte grise » or « carte d'identité »?
    (TITLE_TYPE, "c'est pour", False),
    (TITLE_TYPE, "un", False),  # « un conseiller », « un instant »
    (TITLE_TYPE, "parler à un conseiller", True),
    (TITLE_TYPE, "répétez", True),
    (GENERIC_SLOTS["yes_no"], "oui", True),
    (GENERIC_SLOTS["yes_no"], "c'est ça", True),
    (GENERIC_SLOTS["yes_no"], "pas", False),  # « pas du tout »
    (GENERIC_SLOTS["yes_no"], "euh", False),
    (TITLE_TYPE, "", False),
])
def test_phrases_whole_or_not(slot, text, whole):
    assert is_complete_answer(slot, text) is whole


def test_trailing_silence_counts_from_the_end_of_speech():
    e = Endpointer(EndpointConfig())
    e.start_listening()
    for i in range(0, len(tone(0.5)), 320):
        e.feed(tone(0.5)[i:i + 320])
    assert e.trailing_silence(idle=False) == 0
    quiet = silence(0.3)
    for i in range(0, len(quiet), 320):
        e.feed(quiet[i:i + 320])
    assert e.trailing_silence(idle=False) == pytest.approx(0.3, abs=0.03)


def test_the_flow_defaults_say_how_long_a_whole_answer_waits():
    d = Defaults()
    assert (d.end_silence, d.complete_answer_silence) == (0.8, 0.15)
    assert Defaults.model_validate({"complete_answer_silence": None}).complete_answer_silence is None
    with pytest.raises(ValueError, match="longer than end_silence 0.5 s"):
        Defaults.model_validate({"end_silence": 0.5, "complete_answer_silence": 0.6})


class UtteranceDouble:
    """A test double for a recogniser: its partial result is ``text`` once ``speech_bytes`` of audio
    have been handed to it, its final result ``final`` (``text`` unless given); it counts the audio it
    was given."""

    def __init__(self, text: str, speech_bytes: int, final: str | None = None) -> None:
        self.text, self.speech_bytes, self.fed = text, speech_bytes, 0
        self.final = text if final is None else final
        self.partial_text = ""

    def submit(self, pcm: bytes) -> None:
        self.fed += len(pcm)
        if self.fed >= self.speech_bytes:
            self.partial_text = self.text

    def abandon(self) -> None:
        pass

    async def close_segment(self) -> str:
        """At a pause: the final result of what was said so far (the partial, for this double)."""
        return self.partial_text

    def take_back(self) -> None:
        """The final result is the whole one already."""

    async def finish(self) -> Recognition:
        return Recognition(text=self.final, confidence=0.9)


class ModelDouble:
    """A test double handing out one scripted utterance; ``late``: its decoding runs behind."""

    def __init__(self, utterance: UtteranceDouble, late: bool = False) -> None:
        self.one, self.late = utterance, late

    def utterance(self, slot):
        return self.one


class LaggingUtteranceDouble(UtteranceDouble):
    """A test double for a recogniser whose partial result lags the audio by its last word (as Vosk's
    does, a chunk of frames behind); its final result at a pause (a closed segment) is ``at_pause``."""

    def __init__(self, text: str, speech_bytes: int, at_pause: str, final: str | None = None) -> None:
        super().__init__(text.rsplit(" ", 1)[0], speech_bytes, final if final is not None else text)
        self.at_pause = at_pause
        self.closed = self.taken_back = 0

    async def close_segment(self) -> str:
        self.closed += 1
        return self.at_pause

    def take_back(self) -> None:
        self.taken_back += 1


async def hear(text: str, complete_silence: float | None, final: str | None = None, *,
               utterance: UtteranceDouble | None = None, late: bool = False) -> tuple[object, UtteranceDouble]:
    """One second of « speech » then two of silence, over a real AudioSocket connection; the question
    hears ``text`` (its final result: ``final``), or what ``utterance`` says. Returns the answer and the
    recogniser double (how much audio it was given)."""
    speech = tone(1.0)
    utterance = utterance or UtteranceDouble(text, len(speech), final)
    pcm = speech + silence(2.0)
    async with connected_peer(b"".join(encode_frame(KIND_AUDIO, pcm[i:i + 320]) for i in range(0, len(pcm), 320))) as peer:
        listener = SpeechListener(peer.server, ModelDouble(utterance, late), SpeechSettings(pace=0))
        q = Question(prompts=[], slot=FILE_NUMBER, speech=True, timeout=6, complete_silence=complete_silence)
        answer = await asyncio.wait_for(listener.listen(peer.stream, q, None), DEADLINE)
    return answer, utterance


async def test_a_whole_number_ends_the_question_after_a_short_pause():
    number = make_file_number(12345678)
    answer, heard = await hear(said_in_pairs(number), complete_silence=0.15)
    assert answer.value == number and answer.details.get("ended") == "whole_answer"
    trailing = (heard.fed - len(tone(1.0))) / 16000
    assert trailing < 0.3  # far from the 0.8 s every answer waited for
    # The call record says how long the caller waited after speaking (here the audio came at once, so
    # only the listener's own work counts).
    assert isinstance(answer.details["after_speech_ms"], int) and answer.details["after_speech_ms"] >= 0


async def test_a_final_result_that_lost_a_word_of_the_whole_answer_does_not_lose_the_answer():
    """The recogniser's final result is rescored and may differ from the partial that ended the question
    (here it lost the key's last word): the answer is still the whole number the caller said."""
    number = make_file_number(12345678)
    text = said_in_pairs(number)
    answer, _ = await hear(text, complete_silence=0.15, final=text.rsplit(" ", 1)[0])
    assert answer.value == number and answer.details.get("ended") == "whole_answer"


@pytest.mark.parametrize("complete_silence", [0.15, None])
async def test_an_unfinished_number_or_the_option_off_waits_for_the_usual_silence(complete_silence):
    number = make_file_number(12345678)
    text = said_in_pairs(number) if complete_silence is None else said_in_pairs(number) + " soixante"
    answer, heard = await hear(text, complete_silence=complete_silence)
    assert "ended" not in answer.details
    assert (heard.fed - len(tone(1.0))) / 16000 >= 0.8


def test_generated_corpus_no_part_of_a_number_is_taken_for_the_whole():
    """Every file number of the spoken-number corpus (an independent generator: French, Belgian, Swiss;
    in pairs, threes, fours, one by one), cut after each of its words: no part is judged whole, and
    most whole numbers are (83 % at this writing: the rest end on a word a number can go on after)."""
    from tests.test_spoken_numbers import GROUPINGS, LANGUAGES, NUMBERS, said

    whole, parts_taken, total = 0, [], 0
    for number in NUMBERS:
        for lang in LANGUAGES:
            for grouping in GROUPINGS.values():
                text = said(number, lang, grouping)
                total += 1
                whole += is_complete_answer(FILE_NUMBER, text) and FILE_NUMBER.parse(text) == number
                words = text.split()
                parts_taken += [" ".join(words[:k]) for k in range(1, len(words))
                                if is_complete_answer(FILE_NUMBER, " ".join(words[:k]))]
    assert parts_taken == []
    assert whole / total >= 0.8


async def test_a_partial_result_a_word_behind_still_ends_a_whole_number_at_the_pause():
    """The partial result lacks the last word when the caller pauses; it is one digit short of a whole
    number, so the recogniser's final result is asked for at the pause, and it is whole: the question
    ends there, not 0.8 s later."""
    number = make_file_number(12345678)
    text = " ".join(number)  # digit by digit: the partial, a word behind, has nine
    lagging = LaggingUtteranceDouble(text, len(tone(1.0)), at_pause=text)
    answer, heard = await hear(text, complete_silence=0.15, utterance=lagging)
    assert answer.value == number and answer.details.get("ended") == "whole_answer"
    assert lagging.closed == 1 and lagging.taken_back == 0
    assert (heard.fed - len(tone(1.0))) / 16000 < 0.3


async def test_a_pause_that_was_not_a_whole_answer_leaves_no_mark_on_the_final_result():
    """At the pause the final result is no whole number (a digit misheard in it): the question waits for
    the usual silence, and the segment is taken back (the recogniser decodes the utterance again as one),
    so the answer is the whole utterance's final result, not the segment closed at the pause."""
    number = make_file_number(12345678)
    text = " ".join(number)
    wrong = " ".join(number[:-1] + str((int(number[-1]) + 1) % 10))
    lagging = LaggingUtteranceDouble(text, len(tone(1.0)), at_pause=wrong, final=text)
    answer, heard = await hear(text, complete_silence=0.15, utterance=lagging)
    assert "ended" not in answer.details and answer.value == number
    assert lagging.closed == 1 and lagging.taken_back == 1
    assert (heard.fed - len(tone(1.0))) / 16000 >= 0.8


async def test_a_node_behind_with_its_decoding_does_not_close_at_the_pause():
    """A segment closed at a pause that is no whole answer costs the utterance's decoding again. While the
    decoding threads run behind, the listener does not gamble on it: the question waits for the usual
    silence and the answer is the final result, with no segment closed."""
    number = make_file_number(12345678)
    text = " ".join(number)
    lagging = LaggingUtteranceDouble(text, len(tone(1.0)), at_pause=text)
    answer, heard = await hear(text, complete_silence=0.15, utterance=lagging, late=True)
    assert answer.value == number and "ended" not in answer.details
    assert lagging.closed == 0
    assert (heard.fed - len(tone(1.0))) / 16000 >= 0.8
