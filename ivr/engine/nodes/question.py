"""What the three question kinds (menu, collect, confirm) share: how they are asked and retried, and
where a caller who cannot be understood, or who asks for an agent, goes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from pydantic import Field
from typing_extensions import override

from ..defaults import Defaults, Reaction, too_short
from ..questions import Asking
from .base import Checks, Edge, Label, NodeBase, Ref

__all__ = ["QuestionNode"]

#: The edges a caller leaves a question by without answering it (the answer is not set on them).
_UNANSWERED = (Label.NOINPUT, Label.NOMATCH, Label.INVALID, Label.FAIL, Label.AGENT)


class QuestionNode(NodeBase):
    """A node that asks the caller something (keypad, or speech when the line has a model)."""

    prompt: str
    #: Played instead of ``prompt`` when the question is keypad-only (no speech model, or speech off).
    keypad_prompt: str | None = None
    reprompt: str | None = None
    timeout: float | None = Field(None, gt=0, le=60)
    retries: int | None = Field(None, ge=1, le=10)
    noinput: Reaction | None = None
    nomatch: Reaction | None = None
    on_fail: str | None = None
    #: Listen to speech while the prompt plays (speech barge-in).
    listen_during_prompt: bool = True
    barge_in: bool = True
    speech: bool = True

    waits_for_caller: ClassVar[bool] = True
    category: ClassVar[str] = "question"

    def asking(self, node_id: str, defaults: Defaults, **answer: Any) -> Asking:
        """How the retry loop asks this question, its gaps filled from the flow's defaults."""
        return Asking(id=node_id, prompt=self.prompt, keypad_prompt=self.keypad_prompt, reprompt=self.reprompt,
                      retries=self.retries or defaults.retries, noinput=self.noinput or defaults.noinput,
                      nomatch=self.nomatch or defaults.nomatch, invalid=self.invalid_reaction(),
                      on_fail=self.on_fail or defaults.on_fail, timeout=self.timeout or defaults.timeout,
                      speech=self.speech, barge_in=self.barge_in, listen_during_prompt=self.listen_during_prompt,
                      min_confidence=self.min_confidence(defaults), **answer)

    def invalid_reaction(self) -> Reaction | None:
        """What an understood but unacceptable answer gets (only collect has such answers)."""
        return None

    def min_confidence(self, defaults: Defaults) -> float:
        """The least confidence at which a spoken answer is taken."""
        return defaults.min_confidence

    def fallback_edges(self, defaults: Defaults) -> list[Edge]:
        """No input, no match (when they lead somewhere), retries run out, and the agent key or word."""
        out = [Edge(label, reaction.next, (label, "next"))
               for label, reaction in ((Label.NOINPUT, self.noinput), (Label.NOMATCH, self.nomatch))
               if reaction is not None and reaction.next]
        invalid = self.invalid_reaction()
        if invalid is not None and invalid.next:
            out.append(Edge(Label.INVALID, invalid.next, (Label.INVALID, "next")))
        out.append(Edge(Label.FAIL, self.on_fail, ("on_fail",)) if self.on_fail
                   else Edge(Label.FAIL, defaults.on_fail, from_defaults=True))
        if defaults.agent_key is not None:
            out.append(Edge(Label.AGENT, defaults.agent, from_defaults=True))
        return out

    @override
    def check(self, checks: Checks) -> None:
        least = checks.defaults.min_answer_time
        if self.timeout is not None and self.timeout < least:
            checks.problem(("timeout",), too_short(self.timeout, least))

    @override
    def prompt_refs(self) -> list[Ref]:
        out = [Ref(self.prompt, ("prompt",))]
        out += [Ref(p, (name,)) for name, p in (("keypad_prompt", self.keypad_prompt), ("reprompt", self.reprompt)) if p]
        out += [Ref(r.prompt, (name, "prompt")) for name, r in (("noinput", self.noinput), ("nomatch", self.nomatch))
                if r is not None and r.prompt]
        return out

    @override
    def silent_seconds(self, defaults: Defaults, seconds: Callable[[str], float]) -> float:
        # Each try: the question, then the time allowed to answer; between tries, the no-input prompt.
        tries = self.retries or defaults.retries
        noinput = (self.noinput or defaults.noinput).prompt
        asked = max(seconds(self.prompt), seconds(self.keypad_prompt) if self.keypad_prompt else 0.0)
        return tries * (asked + (self.timeout or defaults.timeout)) + (tries - 1) * (seconds(noinput) if noinput else 0.0)

    @override
    def keypad_prompt_refs(self) -> list[Ref]:
        return [Ref(self.keypad_prompt, ("keypad_prompt",))] if self.keypad_prompt else [Ref(self.prompt, ("prompt",))]

    @override
    def sets_on(self, label: str) -> set[str]:
        """The answer is set when the caller answered, not on the edges that leave unanswered."""
        return set() if label in _UNANSWERED else self.sets()

    @override
    def summary(self, defaults: Defaults) -> list[str]:
        retries = self.retries or defaults.retries
        return [f"{retries} essai" + ("s" if retries > 1 else "")]
