"""The flow-wide defaults questions fall back on, and a question's reaction to a failed try."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Defaults", "Reaction"]


class Reaction(BaseModel):
    """What a question does on no input / no match / an invalid answer: a prompt, and optionally where to go."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    next: str | None = None


class Defaults(BaseModel):
    """Flow-wide defaults every question node falls back on."""

    model_config = ConfigDict(extra="forbid")

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
    #: Low recognition confidence below which an answer counts as no match.
    min_confidence: float = Field(0.5, ge=0, le=1)
