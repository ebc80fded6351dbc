"""``menu``: one of a few choices, by key or by word (« carte grise », « permis »…)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import override

from ...interfaces import Answer
from ..defaults import Defaults, one_key
from ..questions import store_answer
from .base import Checks, Edge, hint
from .question import QuestionNode

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["MenuNode", "Choice"]


class Choice(BaseModel):
    """One answer a menu takes: its value, its key, the words that say it, and where it leads."""

    model_config = ConfigDict(extra="forbid")

    value: str
    key: str | None = None
    words: list[str] = Field(default_factory=list)
    next: str

    @field_validator("key")
    @classmethod
    def _one_key(cls, v: str | None) -> str | None:
        return one_key(v, "a choice key")


class MenuNode(QuestionNode):
    """Offer choices by key or by speech; each choice goes to its node."""

    kind: Literal["menu"]
    slot: str | None = None
    store: str | None = None
    #: Two choices on one key or one value are reported by the validator, at the second one's line.
    choices: list[Choice] = Field(min_length=1)

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(c.key or c.value, c.next, ("choices", i, "next")) for i, c in enumerate(self.choices)] \
            + self.fallback_edges(defaults)

    @override
    def sets(self) -> set[str]:
        return {self.store} if self.store else set()

    @override
    def check(self, checks: Checks) -> None:
        super().check(checks)
        self._check_slot(checks)
        requests = checks.defaults.request_keys()
        keys: dict[str, int] = {}
        values: dict[str, int] = {}
        for i, c in enumerate(self.choices):
            if c.key is not None and c.key in requests:
                checks.problem(("choices", i, "key"), f"key {c.key} is {requests[c.key]}, never this choice")
            if c.key is not None and c.key in keys:
                checks.problem(("choices", i, "key"), f"two choices use key {c.key} (choice {keys[c.key] + 1} and {i + 1})")
            if c.value in values:
                checks.problem(("choices", i, "value"), f"two choices have the value {c.value!r}")
            keys.setdefault(c.key or "", i)
            values.setdefault(c.value, i)

    def _check_slot(self, checks: Checks) -> None:
        if self.slot is None:
            return
        slots = checks.context.slots
        spec = slots.get(self.slot)
        if spec is None:
            checks.problem(("slot",), f"unknown slot {self.slot!r}{hint(self.slot, slots)} (known: {', '.join(sorted(slots))})")
            return
        if spec.digits:
            checks.problem(("slot",), f"slot {self.slot!r} is a digit string: use a collect node")
        for i, c in enumerate(self.choices):
            if c.value not in spec.values:
                checks.problem(("choices", i, "value"), f"value {c.value!r} is not a value of slot {self.slot!r}"
                                                        f"{hint(c.value, spec.values)} ({', '.join(spec.values)})")

    def choice_for(self, answer: Answer) -> Choice | None:
        """The choice an answer names: its key, its slot value, or one of its words; None for no match."""
        if answer.mode == "dtmf":
            return next((c for c in self.choices if c.key is not None and c.key == answer.digits), None)
        by_value = next((c for c in self.choices if c.value == answer.value), None)
        if by_value is not None:
            return by_value
        words = answer.text.lower()
        return next((c for c in self.choices if any(w in words for w in c.words)), None)

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        slot = runner.services.slots.get(self.slot) if self.slot else None
        choice: Choice | None
        choice, fallback = await runner.questions.ask(call, self.asking(node_id, runner.defaults, slot=slot),
                                                      self.choice_for)
        if choice is None:
            return fallback
        store_answer(call, self.store, choice.value)
        return choice.next
