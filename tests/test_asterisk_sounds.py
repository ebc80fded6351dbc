"""Asterisk's own sounds in French: what the queues say to a waiting caller and the number words
Asterisk's French number reader strings together — every one rendered, current and playable (issue 29,
item 4; the real Asterisk plays them in tests/e2e/test_queue_wait.py)."""

from __future__ import annotations

from ivr.asterisk_config import load_asterisk_config
from ivr.audio.wav import wav_problem
from ivr.tts.catalog import load_asterisk_sounds
from tests.test_deployment import ETC, asterisk_conf

#: The sounds app_queue plays for the announcements queues.conf turns on (position, hold time, thanks).
QUEUE_SOUNDS = {"queue-youarenext", "queue-thereare", "queue-callswaiting", "queue-holdtime", "queue-minute",
                "queue-minutes", "queue-seconds", "queue-thankyou"}


def french_number_files(n: int) -> list[str]:
    """The files Asterisk's French reader (main/say.c) plays for ``n`` (0 ≤ n < 1,000,000), as its source
    reads: 1-20 whole, 21-69 tens + « et » before 1, 70-79 « soixante » + 10-19, 80-99 « quatre-vingt » +
    the rest, « cent », « mille »."""
    if n == 0:
        return ["digits/0"]
    out: list[str] = []
    if n >= 1000:
        out += ([] if n < 2000 else french_number_files(n // 1000)) + ["digits/thousand"]
        n %= 1000
    if n >= 100:
        out += ([] if n < 200 else [f"digits/{n // 100}"]) + ["digits/hundred"]
        n %= 100
    if n == 0:
        return out
    if n < 21:
        return out + [f"digits/{n}"]
    if n < 70:
        return out + [f"digits/{n // 10 * 10}"] + (["digits/et"] if n % 10 == 1 else []) + (
            french_number_files(n % 10) if n % 10 else [])
    if n < 80:
        return out + ["digits/60"] + (["digits/et"] if n % 10 == 1 else []) + french_number_files(n - 60)
    return out + ["digits/80"] + (french_number_files(n - 80) if n > 80 else [])


def test_every_sound_the_queues_and_their_numbers_need_is_in_the_catalog():
    sounds = load_asterisk_sounds()
    needed = QUEUE_SOUNDS | {f for n in range(0, 100_000) for f in french_number_files(n)}
    assert needed <= set(sounds.prompts), sorted(needed - set(sounds.prompts))
    assert french_number_files(71) == ["digits/60", "digits/et", "digits/11"]
    assert french_number_files(97) == ["digits/80", "digits/17"]


def test_every_sound_is_rendered_from_its_text_now_and_asterisk_would_play_it():
    sounds = load_asterisk_sounds()
    assert sounds.stale() == set()
    problems = {p: wav_problem(sounds.wav_path(p)) for p in sounds.prompts}
    assert {p: why for p, why in problems.items() if why} == {}


def test_the_queues_announce_in_french_and_offer_the_kept_turn():
    queues = dict(asterisk_conf("queues.conf")["queue-template"])
    assert queues["announce-position"] == "yes" and queues["announce-holdtime"] == "yes"
    assert int(queues["announce-frequency"]) > 0 and queues["context"] == "ivr-queue-leave"
    dialplan = (ETC / "extensions.conf").read_text(encoding="utf-8")
    assert "[ivr-queue-leave]\nexten => *,1," in dialplan
    assert load_asterisk_config(ETC).flows  # the configuration still loads as the checker reads it
