"""The flow-wide defaults questions fall back on, and a question's reaction to a failed try."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = ["Defaults", "Pause", "Reaction", "one_key", "too_short", "CHOICE_KEYS"]

#: The keys a caller can choose with: what every phone sends. ``#`` is not one: it ends what the
#: caller types (Asterisk returns what came before it), so a choice on ``#`` could never be made.
CHOICE_KEYS = "0123456789*"


def one_key(value: str | None, what: str) -> str | None:
    """``value`` if it is one key a caller can choose with; else a ValueError that says why."""
    if value is None or (len(value) == 1 and value in CHOICE_KEYS):
        return value
    why = (" (# ends what the caller types: a choice on # could never be made)" if value == "#" else
           " (quotes around a number are fine, two keys are not)" if len(value) > 1 else "")
    raise ValueError(f"{what} is one of 0-9 and *, not {value!r}{why}")


def too_short(timeout: float, least: float) -> str:
    """Why a question's ``timeout`` below ``least`` (defaults.min_answer_time) is refused."""
    return (f"timeout {timeout:g} s gives a caller {timeout:g} s to start answering: callers who need time "
            f"(to hear the question out, to find their paper) would be told they were not heard; "
            f"write at least {least:g} (defaults.min_answer_time)")


class Pause(BaseModel):
    """A caller who asks a question to wait (« un instant », « je cherche », the pause key) is held up to
    ``limit`` seconds, reminded every ``remind_every`` that the line waits; an answer is taken at any
    moment. A pause is never a failed try; past ``times`` per question, a request counts as not understood."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = "9"
    limit: float = Field(60, ge=5, le=600)
    remind_every: float = Field(15, ge=3, le=120)
    times: int = Field(2, ge=0, le=10)

    @field_validator("key")
    @classmethod
    def _one_key(cls, v: str | None) -> str | None:
        return one_key(v, "the pause key")


class Reaction(BaseModel):
    """What a question does on no input / no match / an invalid answer: a prompt, and optionally where to go."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    next: str | None = None


class Defaults(BaseModel):
    """Flow-wide defaults every question node falls back on."""

    model_config = ConfigDict(extra="forbid")

    #: The least time any question gives a caller to start answering (seconds): a shorter timeout
    #: is refused, as callers who need time (elderly, finding a paper) would hear "not heard" first.
    min_answer_time: float = Field(3.0, gt=0, le=60)
    timeout: float = Field(6.0, gt=0, le=60, description="Seconds of silence before no-input.")
    inter_digit_timeout: float = Field(3.0, gt=0, le=30)
    retries: int = Field(3, ge=1, le=10)
    noinput: Reaction = Reaction(prompt="non_entendu")
    nomatch: Reaction = Reaction(prompt="non_compris")
    #: Where a question goes when its retries run out (must be a route node).
    on_fail: str = "agent_failed"
    #: Where "conseiller" / the agent key goes.
    agent: str = "agent_requested"
    agent_key: str | None = "0"
    #: The key that replays the question (as « répétez » does); it never counts as a failed try.
    repeat_key: str | None = "*"
    #: How often one question may be replayed on request; past it, a request counts as not understood.
    max_repeats: int = Field(5, ge=0, le=20)
    pause: Pause = Pause()
    #: The key that slows the line down for the rest of the call (as « moins vite » does).
    slower_key: str | None = "8"
    #: Trailing silence that ends a spoken answer (seconds): a caller pausing mid-number is not cut off.
    end_silence: float = Field(0.8, ge=0.3, le=3)
    #: Trailing silence that ends a spoken answer already whole for the question (ten digits whose key
    #: checks, a phrase the question takes): no dead time after a complete answer. null: always wait
    #: ``end_silence``.
    complete_answer_silence: float | None = Field(0.15, ge=0.05, le=3)
    #: Low recognition confidence below which an answer counts as no match.
    min_confidence: float = Field(0.5, ge=0, le=1)
    #: The longest a caller who says nothing may hear prompts and wait before reaching an agent
    #: (seconds); the checker computes it over every path and refuses a flow above it.
    max_silent_wait: float = Field(180, gt=0, le=3600)

    @field_validator("timeout")
    @classmethod
    def _time_to_answer(cls, v: float, info: ValidationInfo) -> float:
        least = info.data.get("min_answer_time")  # absent when it was itself refused
        if least is not None and v < least:
            raise ValueError(too_short(v, least))
        return v

    @field_validator("complete_answer_silence")
    @classmethod
    def _not_longer(cls, v: float | None, info: ValidationInfo) -> float | None:
        end = info.data.get("end_silence")
        if v is not None and end is not None and v > end:
            raise ValueError(f"complete_answer_silence {v:g} s is longer than end_silence {end:g} s: a whole "
                             f"answer would wait longer than any other; write at most {end:g}")
        return v

    @field_validator("agent_key", "repeat_key", "slower_key")
    @classmethod
    def _request_key(cls, v: str | None, info: ValidationInfo) -> str | None:
        return _not_taken(one_key(v, f"the {_KEY_NAMES[str(info.field_name)]} key"), info)

    @field_validator("pause")
    @classmethod
    def _pause_key(cls, v: Pause, info: ValidationInfo) -> Pause:
        _not_taken(v.key, info)
        return v

    def request_keys(self) -> dict[str, str]:
        """The keys every question takes for a caller's request, each with what pressing it does
        (a menu choice on one of them could never be made)."""
        keys = ((self.agent_key, "agent_key", "reaches an agent"),
                (self.repeat_key, "repeat_key", "hears the question again"),
                (self.pause.key, "pause.key", "is given time to answer"),
                (self.slower_key, "slower_key", "hears the line speak more slowly"))
        return {key: f"the {_KEY_NAMES[field.split('.')[0]]} key (defaults.{field}): a caller pressing it {does}"
                for key, field, does in keys if key is not None}


#: Each request key's name in messages (fields in the order they are declared: each is checked against
#: those before it).
_KEY_NAMES = {"agent_key": "agent", "repeat_key": "repeat", "pause": "pause", "slower_key": "slower"}


def _not_taken(key: str | None, info: ValidationInfo) -> str | None:
    """``key``, unless a request key declared before it already uses it."""
    for field, name in _KEY_NAMES.items():
        if field == info.field_name:
            break
        before = info.data.get(field)
        if isinstance(before, Pause):
            before = before.key
        if key is not None and key == before:
            raise ValueError(f"{key} is already the {name} key: a caller could not ask for both")
    return key
