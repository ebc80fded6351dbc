"""The speech model's test double and the simulated caller's ear for prompts: which known clip an audio
stream carries, and how much of it has arrived."""

from __future__ import annotations

import asyncio

from ivr.audio.wav import read_wav, resample
from ivr.config import DEFAULT_PROMPTS_DIR
from ivr.sim.hearing import ClipFinder, HeardTextModelDouble, SpokenClips, catalog_prompts
from ivr.sim.voice import text_audio

SILENCE = b"\0" * 3200  # 200 ms


def clips(*texts: str) -> SpokenClips:
    known = SpokenClips()
    for text in texts:
        known.remember(text, text_audio(text))
    return known


def fed(listener, pcm: bytes, chunk: int = 1600) -> None:
    """Audio in 100 ms chunks, as the IVR hands it over (a finder's ``feed``, an utterance's ``submit``)."""
    take = getattr(listener, "submit", None) or listener.feed
    for i in range(0, len(pcm), chunk):
        take(pcm[i:i + chunk])


def test_the_words_arrive_as_the_clip_does_and_all_of_them_once_it_is_whole():
    text = "cinquante-quatre, cinquante-huit, quarante-quatre"
    model = HeardTextModelDouble(clips(text))
    utterance = model.utterance(None)
    pcm = text_audio(text)
    fed(utterance, SILENCE + pcm[:len(pcm) // 2])
    half = utterance.partial_text.split()
    assert half and half == ["cinquante-quatre", "cinquante-huit", "quarante-quatre"][:len(half)] and len(half) < 3
    fed(utterance, pcm[len(pcm) // 2:] + SILENCE)
    heard = asyncio.run(utterance.finish())
    assert heard.text == "cinquante-quatre cinquante-huit quarante-quatre" and heard.confidence == 0.9


def test_clips_that_begin_alike_are_told_apart():
    known = clips("oui", "oui c'est ça")
    for said in ("oui", "oui c'est ça"):
        finder = ClipFinder(known)
        fed(finder, SILENCE + text_audio(said) + SILENCE)
        assert finder.found is not None and finder.found[0].label == said


def test_audio_it_does_not_know_is_heard_as_nothing():
    model = HeardTextModelDouble(clips("carte grise"))
    utterance = model.utterance(None)
    fed(utterance, SILENCE + text_audio("passeport") + SILENCE)
    assert asyncio.run(utterance.finish()).text == ""


def test_a_prompt_and_its_slower_rendering_are_both_known_by_the_prompts_name():
    prompts = catalog_prompts(DEFAULT_PROMPTS_DIR / "wav")
    for sub in ("", "lent/"):
        pcm, rate = read_wav(DEFAULT_PROMPTS_DIR / "wav" / f"{sub}menu_titre.wav")
        finder = ClipFinder(prompts)
        fed(finder, resample(pcm, rate, 8000))
        assert finder.settle() is not None and finder.found[0].label == "menu_titre"


def test_what_it_keeps_is_bounded():
    known = SpokenClips(limit=2)
    for text in ("un", "deux", "trois"):
        known.remember(text, text_audio(text))
    finder = ClipFinder(known)
    fed(finder, SILENCE + text_audio("un") + SILENCE)
    assert finder.found is None  # the oldest clip was forgotten
    finder = ClipFinder(known, limit=3200)
    fed(finder, SILENCE * 10)
    assert len(finder.audio) == 3200
