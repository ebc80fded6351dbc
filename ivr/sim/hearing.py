"""A test double for the speech model: it hears, word for word, what a simulated caller's clip was
synthesised from.

The French Vosk model is not always at hand (it cannot be downloaded on every machine), yet the
behaviours built on speech — a number said as people say it, « répétez », « un instant », the answer
taken as soon as it is whole — must be shown by simulated calls. This double stands in for the
acoustic model only: the simulated caller's audio still goes through AudioSocket, the endpointer, the
grammar's understanding, the early end and the flow. What it cannot show is whether a real model
hears the words; the Korean model's tests and benchmarks and the French model's scenarios
(``tests/speech_scenarios``) do that.

It works in the process that synthesises the caller's voice (:func:`ivr.sim.voice.text_audio`
remembers each clip here): an utterance finds the clip in the audio it is fed, and reveals the clip's
words in proportion to how much of it has arrived, so its partial result grows as a recogniser's
does and is whole only once the whole clip has been heard. Audio it does not know (noise, a WAV file,
another process's voice) is heard as nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..audio.wav import TELEPHONY_RATE, read_wav, resample
from ..interfaces import SlotSpec
from ..listening.vosk import Recognition

__all__ = ["SpokenClips", "ClipFinder", "CLIPS", "catalog_prompts", "HeardTextModelDouble", "HeardTextUtterance"]

#: A sample louder than this starts the clip's voiced part (16-bit PCM).
_VOICED = 300
#: Bytes of the clip's voiced start that find it in an utterance's audio (20 ms).
_HEAD = 320
#: The most audio an utterance keeps (60 s of 8 kHz 16-bit).
_MAX_AUDIO = 60 * 16000


@dataclass(frozen=True)
class Clip:
    """A known piece of audio: what it says (a sentence, a prompt's name), from its first loud sample to
    its last."""

    label: str
    voiced: bytes

    @property
    def words(self) -> tuple[str, ...]:
        return _words(self.label)

    @property
    def head(self) -> bytes:
        return self.voiced[:_HEAD]


def _words(text: str) -> tuple[str, ...]:
    """The words as a recogniser writes them: lowercase, no punctuation but hyphens and apostrophes."""
    return tuple(re.sub(r"[^\w'’-]+", " ", text.lower()).split())


def _voiced(pcm: bytes) -> bytes:
    """The audio from its first loud sample to its last (a recogniser hears the last word as it ends,
    not after the silence that follows)."""
    loud = [i for i in range(0, len(pcm) - 1, 2)
            if abs(int.from_bytes(pcm[i:i + 2], "little", signed=True)) > _VOICED]
    return pcm[loud[0]:loud[-1] + 2] if loud else b""


class SpokenClips:
    """Known clips, by what they say; the newest kept (bounded)."""

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self._clips: OrderedDict[str, Clip] = OrderedDict()

    def remember(self, label: str, pcm: bytes, *, key: str | None = None) -> None:
        """Note that ``pcm`` says ``label`` (``key``: what tells it from other clips of that label, a
        prompt's slower rendering)."""
        voiced = _voiced(pcm)
        if len(voiced) < _HEAD:
            return
        key = key or label
        self._clips[key] = Clip(label, voiced)
        self._clips.move_to_end(key)
        while len(self._clips) > self.limit:
            self._clips.popitem(last=False)

    def starting(self, audio: bytes, start: int) -> list[tuple[Clip, int]]:
        """The clips whose voiced start is in ``audio`` at or after ``start``, with where each begins."""
        found = []
        for clip in reversed(self._clips.values()):
            at = audio.find(clip.head, start)
            if at >= 0:
                found.append((clip, at))
        return found


class ClipFinder:
    """Says which known clip an audio stream carries, fed as the audio arrives (bounded).

    Clips may begin alike (« oui » and « oui c'est ça », two prompts opening with the same words): a clip
    is named once the audio leaves one candidate only, or once a candidate has been heard whole and
    silence follows it.
    """

    def __init__(self, clips: SpokenClips, limit: int = _MAX_AUDIO) -> None:
        self.clips, self.limit = clips, limit
        self.audio = bytearray()
        self.candidates: list[tuple[Clip, int]] = []
        self.found: tuple[Clip, int] | None = None

    def feed(self, pcm: bytes) -> tuple[Clip, int] | None:
        """Take more audio; the clip and where it begins in the stream, once known."""
        searched = len(self.audio)
        self.audio += pcm[:max(0, self.limit - len(self.audio))]
        if self.found is not None:
            return self.found
        audio = bytes(self.audio)
        if not self.candidates:
            self.candidates = self.clips.starting(audio, max(0, searched - _HEAD))
        self.candidates = [(c, at) for c, at in self.candidates if _agrees(c, at, audio)]
        whole = [(c, at) for c, at in self.candidates if _ended(c, at, audio)]
        if len(self.candidates) == 1 or whole:
            self.found = (whole or self.candidates)[0]
        return self.found

    def settle(self) -> tuple[Clip, int] | None:
        """The stream has ended: the longest candidate heard whole, if it is not known yet."""
        if self.found is None:
            audio = bytes(self.audio)
            whole = [(c, at) for c, at in self.candidates if len(audio) - at >= len(c.voiced)]
            if whole:
                self.found = max(whole, key=lambda found: len(found[0].voiced))
        return self.found


def _agrees(clip: Clip, at: int, audio: bytes) -> bool:
    n = min(len(audio) - at, len(clip.voiced))
    return audio[at:at + n] == clip.voiced[:n]


def _ended(clip: Clip, at: int, audio: bytes) -> bool:
    """The whole clip is in the audio, and 20 ms of silence after it."""
    after = audio[at + len(clip.voiced):at + len(clip.voiced) + _HEAD]
    return len(after) == _HEAD and not _voiced(after)


#: What this process's simulated callers said.
CLIPS = SpokenClips()


@lru_cache(maxsize=4)
def catalog_prompts(wav_dir: Path) -> SpokenClips:
    """The prompts of a catalog folder (its slower renderings included), by name, as the IVR plays them
    over AudioSocket (8 kHz): what lets the simulated caller say which prompt it heard there."""
    prompts = SpokenClips(limit=10_000)
    for wav in sorted(wav_dir.rglob("*.wav")):
        try:
            pcm, rate = read_wav(wav)
        except (OSError, ValueError):
            continue
        prompts.remember(wav.stem, resample(pcm, rate, TELEPHONY_RATE), key=str(wav.relative_to(wav_dir)))
    return prompts


class HeardTextUtterance:
    """One utterance: the audio fed so far, the clip found in it, the words of it heard so far."""

    def __init__(self, clips: SpokenClips, confidence: float) -> None:
        self.finder = ClipFinder(clips)
        self.confidence = confidence
        self.busy_seconds = 0.0
        self.trailing = False  # the caller paused (no decoding order to keep here)

    def submit(self, pcm: bytes) -> None:
        """Take more of the caller's audio (beyond a minute, dropped)."""
        self.finder.feed(pcm)

    async def feed(self, pcm: bytes) -> str:
        """Take more audio; the partial result."""
        self.submit(pcm)
        return self.partial_text

    def abandon(self) -> None:
        """Nothing runs in the background: nothing to stop."""

    async def drain(self) -> None:
        """Nothing is queued: the audio is taken as it is submitted."""
        await asyncio.sleep(0)

    async def finish(self) -> Recognition:
        """What was heard: the clip's words so far (all of them once the whole clip arrived)."""
        await asyncio.sleep(0)
        text = self.partial_text
        return Recognition(text=text, confidence=self.confidence if text else None,
                           words=[{"word": w, "conf": self.confidence} for w in text.split()])

    async def close_segment(self) -> str:
        """What was heard so far (the double's partial result never lags the audio)."""
        await asyncio.sleep(0)
        return self.partial_text

    def take_back(self) -> None:
        """Nothing to decode again: the double hears the clip whole."""

    @property
    def partial_text(self) -> str:
        """The words of the clip in proportion to the part of it received."""
        if self.finder.found is None:
            return ""
        clip, at = self.finder.found
        received = min(len(self.finder.audio) - at, len(clip.voiced))
        count = len(clip.words) * received // len(clip.voiced)
        return " ".join(clip.words[:count])


class HeardTextModelDouble:
    """Stands in for :class:`ivr.listening.vosk.SpeechModel` in simulated calls (see the module)."""

    path = Path("heard-text-double")
    load_seconds = 0.0

    def __init__(self, clips: SpokenClips = CLIPS, *, confidence: float = 0.9) -> None:
        self.clips = clips
        self.confidence = confidence

    def known_word(self, word: str) -> bool:
        """Every word: the double hears what was said, in or out of a grammar."""
        return True

    def grammar(self, slot: SlotSpec | None) -> str | None:
        """No grammar: the words heard are the clip's."""
        return None

    def utterance(self, slot: SlotSpec | None, *, alternatives: int | None = None) -> HeardTextUtterance:
        """A fresh utterance (the slot's grammar plays no part: the words are the clip's)."""
        return HeardTextUtterance(self.clips, self.confidence)

    #: The double decodes nothing: never late, never busy.
    busy = False
    late = False

    def close(self) -> None:
        """Nothing to stop."""
