"""``collect``: a digit string (the 34 00 file number), typed or spoken, checked, read back and
confirmed; after a spoken number that is not valid, asked again in parts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from typing_extensions import override

from ...interfaces import Answer, Question, SlotSpec
from ...playback import play_until_key
from ...privacy import mask_digits
from ...tts.sentences import say_digits_text
from ...understanding.digits import parse_digits
from ...understanding.readings import best_reading
from ..defaults import Defaults, Reaction
from ..questions import INVALID, Accept, Accepted, Asking, store_answer, yes_no
from .base import Checks, Edge, Label, Ref, hint, ref_list
from .question import QuestionNode

if TYPE_CHECKING:
    from ...calls.call import Call
    from .runner import Runner

__all__ = ["CollectNode", "ChunkSpec", "ConfirmSpec"]


class ChunkSpec(BaseModel):
    """« Les quatre premiers chiffres… », then the rest: the digits per part and the prompt asking for each."""

    model_config = ConfigDict(extra="forbid")

    sizes: list[int] = Field(min_length=2)
    prompts: list[str] = Field(min_length=2)

    @model_validator(mode="after")
    def _one_prompt_per_part(self) -> ChunkSpec:
        if len(self.sizes) != len(self.prompts) or any(n < 1 for n in self.sizes):
            raise ValueError("one prompt per part, and each part at least one digit")
        return self


class ConfirmSpec(BaseModel):
    """How the value is read back and confirmed."""

    model_config = ConfigDict(extra="forbid")

    prompt: str
    keypad_prompt: str | None = None
    readback: str = Field("vous_avez_dit", description="Prompt played before the value is read back.")


class CollectNode(QuestionNode):
    """Ask for a value (a file number, digits, a title) by keys or speech and keep it in a slot."""

    kind: Literal["collect"]
    slot: str
    store: str
    min_digits: int = Field(1, ge=1, le=64)
    max_digits: int = Field(10, ge=1, le=64)
    #: A check the line's profile provides (``mod97``: the 2-digit key of a 34 00 file number).
    validator: str | None = None
    invalid: Reaction = Reaction(prompt="non_compris")
    #: Read the value back and ask for a yes/no confirmation.
    confirm: ConfirmSpec | None = None
    #: After a spoken answer that is not valid (a wrong length or key), ask again in parts, each read back.
    chunks: ChunkSpec | None = None
    next: str

    @field_validator("max_digits")
    @classmethod
    def _not_below_min(cls, v: int, info: ValidationInfo) -> int:
        low = info.data.get("min_digits")
        if low is not None and low > v:
            raise ValueError(f"max_digits ({v}) is less than min_digits ({low}): no answer could be long enough "
                             f"and short enough at once")
        return v

    @model_validator(mode="after")
    def _chunks_fit(self) -> CollectNode:
        if self.chunks is not None:
            if self.min_digits != self.max_digits:
                raise ValueError(f"chunks: a number asked in parts has one length (min_digits {self.min_digits} "
                                 f"and max_digits {self.max_digits} differ)")
            if sum(self.chunks.sizes) != self.max_digits:
                raise ValueError(f"chunks: the parts ({' + '.join(map(str, self.chunks.sizes))}) must add up to "
                                 f"the number's {self.max_digits} digits, not {sum(self.chunks.sizes)}")
        return self

    # -- what the checker asks ------------------------------------------------------------------

    @override
    def invalid_reaction(self) -> Reaction:
        return self.invalid

    @override
    def min_confidence(self, defaults: Defaults) -> float:
        # A value read back for confirmation may be unsure: the caller corrects it.
        return 0.0 if self.confirm else defaults.min_confidence

    @override
    def edges(self, defaults: Defaults) -> list[Edge]:
        return [Edge(Label.NEXT, self.next, ("next",))] + self.fallback_edges(defaults)

    @override
    def keypad_prompt_refs(self) -> list[Ref]:
        confirm = self.confirm
        if confirm is None:
            return super().keypad_prompt_refs()
        asked = Ref(confirm.keypad_prompt, ("confirm", "keypad_prompt")) if confirm.keypad_prompt \
            else Ref(confirm.prompt, ("confirm", "prompt"))
        return [*super().keypad_prompt_refs(), asked]

    @override
    def prompt_refs(self) -> list[Ref]:
        out = super().prompt_refs()
        if self.invalid.prompt:
            out.append(Ref(self.invalid.prompt, ("invalid", "prompt")))
        if self.confirm is not None:
            out += [Ref(self.confirm.prompt, ("confirm", "prompt")), Ref(self.confirm.readback, ("confirm", "readback"))]
            if self.confirm.keypad_prompt:
                out.append(Ref(self.confirm.keypad_prompt, ("confirm", "keypad_prompt")))
        if self.chunks is not None:
            out += ref_list(self.chunks.prompts, "chunks", "prompts")
        return out

    @override
    def sets(self) -> set[str]:
        return {self.store}

    @override
    def check(self, checks: Checks) -> None:
        super().check(checks)
        slots, validators = checks.context.slots, checks.context.validators
        spec = slots.get(self.slot)
        if spec is None:
            checks.problem(("slot",), f"unknown slot {self.slot!r}{hint(self.slot, slots)} (known: {', '.join(sorted(slots))})")
        elif not spec.digits:
            checks.problem(("slot",), f"slot {self.slot!r} is not a digit string and cannot be collected")
        if self.validator is not None and self.validator not in validators:
            checks.problem(("validator",), f"unknown validator {self.validator!r}{hint(self.validator, validators)} "
                                           f"(known: {', '.join(sorted(validators)) or 'none'})")

    # -- on a call ----------------------------------------------------------------------------------

    @override
    async def run(self, node_id: str, call: Call, runner: Runner) -> str | None:
        asking = self.asking(node_id, runner.defaults, max_digits=self.max_digits, terminator=True,
                             slot=runner.services.slots[self.slot])
        value, fallback = await _Collecting(self, node_id, call, runner).ask(asking)
        if value is None:
            return fallback
        # Personal data (a file number) is recorded with only its 2-digit key showing.
        personal = runner.services.slots[self.slot].personal
        store_answer(call, self.store, value, masked=mask_digits(value, 0, 2) if personal else None)
        return self.next


@dataclasses.dataclass
class _Collecting:
    """One collect node asked on one call: what the retry loop is given to interpret, confirm and
    listen with, and whether the last spoken answer was a number that is not valid."""

    node: CollectNode
    node_id: str
    call: Call
    runner: Runner
    spoken_invalid: bool = False

    async def ask(self, asking: Asking) -> tuple[str | None, str | None]:
        return await self.runner.questions.ask(self.call, asking, self.interpret, accept=self.accept, listen=self.listen)

    def valid(self, digits: object) -> bool:
        node = self.node
        check = self.runner.services.validators[node.validator] if node.validator else None
        return (isinstance(digits, str) and digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits
                and (check is None or check(digits)))

    def interpret(self, answer: Answer) -> object:
        digits = answer.value if answer.mode == "speech" else answer.digits
        if not isinstance(digits, str) or not digits.isdigit():
            return None
        if not self.valid(digits):
            self.spoken_invalid = answer.mode == "speech"
            return INVALID
        return digits

    async def accept(self, value: str, answer: Answer) -> bool | str | Accepted:
        if self.node.confirm is None or answer.details.get("confirmed"):
            return True
        verdict = await _confirm_value(self.node, self.node_id, self.call, self.runner, value)
        # A digit string the caller may have meant otherwise: offer the next reading before asking again.
        for other in answer.details.get("alternatives", []):
            if verdict is not False:
                break
            if self.valid(other):
                verdict = await _confirm_value(self.node, self.node_id, self.call, self.runner, other)
                if verdict is True:
                    return Accepted(other)
        return verdict

    async def listen(self, call: Call, question: Question, typed: str | None) -> Answer:
        if self.node.chunks is not None and self.spoken_invalid and not typed:
            self.spoken_invalid = False
            return await _in_parts(self.node, self.node_id, call, self.runner, question)
        return await self.runner.services.listener.ask(call.channel, question, typed)


async def _in_parts(node: CollectNode, node_id: str, call: Call, runner: Runner, question: Question) -> Answer:
    """After a spoken number that was not valid: « les quatre premiers chiffres… », then the rest,
    each part read back and confirmed; keys work all along. The parts make one answer."""
    assert node.chunks is not None
    listener = runner.services.listener
    typed = await play_until_key(call.channel, question.prompts[:-1], barge_in=question.barge_in)
    if typed:  # the caller went for the keypad: the whole number, as usual
        return await listener.ask(call.channel, dataclasses.replace(question, prompts=question.prompts[-1:]), typed)
    slot = runner.services.slots[node.slot]
    parts: list[str] = []
    for k, (size, prompt) in enumerate(zip(node.chunks.sizes, node.chunks.prompts, strict=True), start=1):
        value, leave = await runner.questions.ask(call, _part_asking(node, node_id, runner.defaults, slot, k, size, prompt),
                                                  _part_of(size), accept=_part_confirmation(node, node_id, call, runner))
        if value is None:
            return Answer("none", details={"leave": leave})
        parts.append(value)
    return Answer("speech", value="".join(parts), text=" ".join(parts),
                  details={"via": "parts", "confirmed": node.confirm is not None})


def _part_asking(node: CollectNode, node_id: str, d: Defaults, slot: SlotSpec, k: int, size: int, prompt: str) -> Asking:
    part_slot = SlotSpec(f"{slot.name}_part", digits=True, length=size, phrases=slot.phrases,
                         parse=lambda text: best_reading(text, lambda v: True, length=size) or parse_digits(text))
    return Asking(id=f"{node_id}.part{k}", prompt=prompt, keypad_prompt=None, reprompt=None, retries=2,
                  noinput=d.noinput, nomatch=d.nomatch, invalid=Reaction(prompt=node.invalid.prompt),
                  on_fail=node.on_fail or d.on_fail, timeout=node.timeout or d.timeout, speech=node.speech,
                  barge_in=node.barge_in, max_digits=size, terminator=True, slot=part_slot)


def _part_of(size: int) -> Callable[[Answer], object]:
    """How one part's answer is understood: exactly ``size`` digits."""
    def interpret(answer: Answer) -> object:
        digits = answer.value if answer.mode == "speech" else answer.digits
        if not isinstance(digits, str) or not digits.isdigit():
            return None
        return digits if len(digits) == size else INVALID
    return interpret


def _part_confirmation(node: CollectNode, node_id: str, call: Call, runner: Runner) -> Accept:
    async def confirm(value: str, answer: Answer) -> bool | str:
        return True if node.confirm is None else await _confirm_value(node, f"{node_id}.part", call, runner, value)
    return confirm


async def _confirm_value(node: CollectNode, node_id: str, call: Call, runner: Runner, value: str) -> bool | str:
    """Read the value back and ask yes/no: True, False (ask again) or a node to leave to."""
    assert node.confirm is not None
    services, d = runner.services, runner.defaults
    # Slowly: one digit at a time, a pause after each.
    digits = say_digits_text(value, group=1 if call.slow else 2)
    readback = [runner.prompt_path(node.confirm.readback, call), await services.spoken.playback_path(digits, slow=call.slow)]
    key = await play_until_key(call.channel, readback)
    if key:
        call.typed_ahead = key
    asking = Asking(id=f"{node_id}.confirm", prompt=node.confirm.prompt, keypad_prompt=node.confirm.keypad_prompt,
                    reprompt=None, retries=2, noinput=d.noinput, nomatch=d.nomatch, invalid=None,
                    on_fail=node.on_fail or d.on_fail, timeout=d.timeout, speech=node.speech,
                    barge_in=node.barge_in, min_confidence=d.min_confidence, slot=services.slots.get("yes_no"),
                    replay=tuple(readback))
    answer, fallback = await runner.questions.ask(call, asking, yes_no)
    if answer is None:
        return fallback or d.on_fail
    return bool(answer == "yes")
