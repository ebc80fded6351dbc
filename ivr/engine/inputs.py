"""How a question hears the caller: keypad through AGI (and speech, when a recogniser is set).

The interpreter asks a :class:`Question` and gets an :class:`Answer`; it does
not know whether keys came from GET DATA or WAIT FOR DIGIT, or words from
AudioSocket or a recording.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..agi.session import ALL_DIGITS, AgiSession
from ..speech.slots import SlotSpec

__all__ = ["Question", "Answer", "Listener", "KeypadListener"]


@dataclass(frozen=True)
class Question:
    prompts: list[str]  # playback paths, played in order
    max_digits: int = 1
    timeout: float = 6.0
    inter_digit_timeout: float = 3.0
    #: ``#`` ends digit entry (collections of more than one key).
    terminator: bool = False
    barge_in: bool = True
    slot: SlotSpec | None = None
    speech: bool = False
    listen_during_prompt: bool = True
    #: Speech recognised with less confidence than this counts as not understood.
    min_confidence: float = 0.0


@dataclass
class Answer:
    mode: Literal["dtmf", "speech", "none"]
    digits: str = ""
    text: str = ""
    value: Any = None
    confidence: float | None = None
    #: Speech the caller gave that was cut short by a timeout (partial result).
    partial: bool = False
    #: ``via``: how the answer was heard (``agi`` keys, ``audiosocket`` stream, ``recording``); ``ms``…
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.mode == "none"


class Listener(Protocol):
    async def ask(self, session: AgiSession, question: Question) -> Answer: ...


class KeypadListener:
    """Keys only: prompts with barge-in, then GET DATA / WAIT FOR DIGIT."""

    #: After a full-length entry, how long to wait for the caller's closing ``#``.
    trailing_hash_ms = 1500

    async def ask(self, session: AgiSession, q: Question) -> Answer:
        answer = await self._ask(session, q)
        answer.details.setdefault("via", "agi")
        return answer

    async def _ask(self, session: AgiSession, q: Question) -> Answer:
        escape = ALL_DIGITS if q.barge_in else ""
        typed = ""
        for path in q.prompts[:-1]:
            played = await session.stream_file(path, escape)
            if played.digit:
                typed = played.digit
                break
        if not typed and q.barge_in:
            # GET DATA plays the last prompt and collects keys in one command.
            wanted = q.max_digits
            entry = await session.get_data(q.prompts[-1], int(q.timeout * 1000), wanted)
            digits = entry.digits
            if not digits and entry.timed_out:
                return Answer("none")
            if q.terminator and len(digits) == q.max_digits and not entry.timed_out:
                # A complete entry returns at once; swallow the "#" the caller adds
                # so it does not answer the next question.
                extra = await session.wait_for_digit(self.trailing_hash_ms)
                if extra and extra != "#":
                    digits += extra
            return Answer("dtmf", digits=digits)
        if not typed:
            await session.stream_file(q.prompts[-1], "")
            first = await session.wait_for_digit(int(q.timeout * 1000))
            if first is None:
                return Answer("none")
            typed = first
        return Answer("dtmf", digits=await self.more_digits(session, q, typed))

    async def more_digits(self, session: AgiSession, q: Question, typed: str) -> str:
        """Keys after ``typed`` until the entry is full, ``#`` or the inter-digit timeout."""
        if typed == "#":
            return ""
        while len(typed) < q.max_digits:
            key = await session.wait_for_digit(int(q.inter_digit_timeout * 1000))
            if key is None or (q.terminator and key == "#"):
                break
            typed += key
        return typed
