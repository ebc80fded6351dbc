"""``say``: prompts and values spoken by the offline voice (a status, digits, a date), in order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from typing_extensions import override

from ...playback import play_until_key
from ...tts.sentences import say_date_text, say_digits_text
from ..defaults import Defaults
from ..template import render
from .base import Edge, Label, NodeBase, Ref

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["SayNode", "SayPart"]

_TEMPLATED = ("text", "digits", "date")


class SayPart(BaseModel):
    """One thing said: a catalog prompt, or a text, digits or a date rendered from the call's variables."""

    model_config = ConfigDict(extra="forbid")

    prompt: str | None = None
    text: str | None = None
    digits: str | None = None
    date: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SayPart:
        given = [k for k in ("prompt", *_TEMPLATED) if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("each say part is exactly one of prompt, text, digits, date")
        return self

    def spoken(self, call: Call, runner: Runner) -> str:
        """What the voice says for a templated part ("" when the value is absent)."""
        filters = runner.services.filters
        if self.text is not None:
            return render(self.text, call.variables, filters)
        if self.digits is not None:
            return say_digits_text(render(self.digits, call.variables, filters))
        value = render(self.date or "", call.variables, filters)
        return say_date_text(value, call.now.date()) if value else ""


class SayNode(NodeBase):
    """Say text made of the call's values (a status read back), with the offline voice."""

    kind: Literal["say"]
    parts: list[SayPart] = Field(min_length=1)
    barge_in: bool = False
    next: str

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))]

    @override
    def prompt_refs(self) -> list[Ref]:
        return [Ref(p.prompt, ("parts", i, "prompt")) for i, p in enumerate(self.parts) if p.prompt]

    @override
    def template_refs(self) -> list[Ref]:
        return [Ref(value, ("parts", i, name)) for i, part in enumerate(self.parts) for name in _TEMPLATED
                if (value := getattr(part, name)) is not None]

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        for part in self.parts:
            if part.prompt:
                path = runner.prompt_path(part.prompt, call)
            else:
                text = part.spoken(call, runner)
                if not text.strip():
                    continue  # nothing to say (optional value absent)
                path = await runner.services.spoken.playback_path(text, slow=call.slow)
            key = await play_until_key(call.channel, [path], barge_in=self.barge_in)
            if key:
                call.typed_ahead = key
                break
        return self.next
