"""Keys only: prompts with barge-in, then GET DATA / WAIT FOR DIGIT over the caller's channel."""

from __future__ import annotations

from ..interfaces import Answer, CallerChannel, Question
from ..playback import play_until_key

__all__ = ["KeypadListener", "more_digits"]


async def more_digits(channel: CallerChannel, q: Question, typed: str) -> str:
    """Keys after ``typed`` until the entry is full, ``#`` or the inter-digit timeout."""
    if typed == "#":
        return ""
    while len(typed) < q.max_digits:
        key = await channel.wait_for_digit(int(q.inter_digit_timeout * 1000))
        if key is None or (q.terminator and key == "#"):
            break
        typed += key
    return typed


class KeypadListener:
    """Implements :class:`ivr.interfaces.Listener` with keys only."""

    #: After a full-length entry, how long to wait for the caller's closing ``#``.
    trailing_hash_ms = 1500

    def offers_speech(self) -> bool:
        """Never: this listener only takes keys."""
        return False

    async def ask(self, channel: CallerChannel, q: Question, typed_ahead: str | None = None) -> Answer:
        """Ask ``q`` and take keys only."""
        if typed_ahead:
            # A key pressed during the previous prompt answers this question.
            answer = Answer("dtmf", digits=await more_digits(channel, q, typed_ahead))
        else:
            answer = await self._ask(channel, q)
        answer.details.setdefault("via", "agi")
        return answer

    async def _ask(self, channel: CallerChannel, q: Question) -> Answer:
        typed = await play_until_key(channel, q.prompts[:-1], barge_in=q.barge_in) or ""
        if not typed and q.barge_in:
            # GET DATA plays the last prompt and collects keys in one command.
            entry = await channel.get_data(q.prompts[-1], int(q.timeout * 1000), q.max_digits)
            digits = entry.digits
            if not digits and entry.timed_out:
                return Answer("none")
            if q.terminator and len(digits) == q.max_digits and not entry.timed_out:
                # A complete entry returns at once; swallow the "#" the caller adds
                # so it does not answer the next question.
                extra = await channel.wait_for_digit(self.trailing_hash_ms)
                if extra and extra != "#":
                    digits += extra
            return Answer("dtmf", digits=digits)
        if not typed:
            await channel.stream_file(q.prompts[-1], "")
            first = await channel.wait_for_digit(int(q.timeout * 1000))
            if first is None:
                return Answer("none")
            typed = first
        return Answer("dtmf", digits=await more_digits(channel, q, typed))
