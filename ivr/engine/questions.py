"""Questions: how a menu, a digit collection or a yes/no is asked, retried and understood.

One retry loop serves every question. It asks through the listener, counts no-input, no-match and
invalid answers, plays the right reprompt, sends « conseiller » / the agent key to the agent node,
and ends at ``on_fail`` when the caller cannot be understood — never in silence.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..calls.call import Call
from ..interfaces import AGENT, Answer, Question, SlotSpec
from ..playback import play_until_key
from ..privacy import mask_digits
from ..tts.sentences import say_digits_text
from .model import CollectNode, ConfirmNode, Defaults, MenuNode, Reaction
from .services import EngineServices

__all__ = ["Asking", "QuestionLoop", "INVALID", "LEAVE"]

#: An answer that was understood but is not acceptable (a file number with a wrong key).
INVALID = object()
#: Where a question "goes" when it is part of another node's work (the callback offer): nowhere.
LEAVE = "-"

_YES_KEYS = {"1": "yes", "2": "no"}


def yes_no(answer: Answer) -> str | None:
    if answer.mode == "dtmf":
        return _YES_KEYS.get(answer.digits)
    return answer.value if answer.value in ("yes", "no") else None


@dataclass(frozen=True)
class Asking:
    """Everything the retry loop needs to ask one question (from a node, or built by another node)."""

    id: str  # as records and metrics name it: the node id, or ``<node>.confirm``
    prompt: str
    keypad_prompt: str | None
    reprompt: str | None
    retries: int
    noinput: Reaction
    nomatch: Reaction
    invalid: Reaction | None
    on_fail: str
    timeout: float
    speech: bool = True
    barge_in: bool = True
    listen_during_prompt: bool = True
    min_confidence: float = 0.0
    max_digits: int = 1
    terminator: bool = False
    slot: SlotSpec | None = None

    @classmethod
    def of(cls, node_id: str, node: MenuNode | CollectNode | ConfirmNode, d: Defaults, **answer: Any) -> "Asking":
        """A question node, its gaps filled from the flow's defaults."""
        return cls(id=node_id, prompt=node.prompt, keypad_prompt=node.keypad_prompt, reprompt=node.reprompt,
                   retries=node.retries or d.retries, noinput=node.noinput or d.noinput,
                   nomatch=node.nomatch or d.nomatch, invalid=getattr(node, "invalid", None),
                   on_fail=node.on_fail or d.on_fail, timeout=node.timeout or d.timeout, speech=node.speech,
                   barge_in=node.barge_in, listen_during_prompt=node.listen_during_prompt,
                   # A value read back for confirmation may be unsure: the caller corrects it.
                   min_confidence=0.0 if getattr(node, "confirm", None) else d.min_confidence, **answer)


class QuestionLoop:
    """Asks the questions of one flow version."""

    def __init__(self, defaults: Defaults, services: EngineServices) -> None:
        self.defaults = defaults
        self.services = services

    def _question(self, asking: Asking, prompts: list[str]) -> Question:
        return Question(prompts=[self.services.prompts.playback_path(p) for p in prompts],
                        max_digits=asking.max_digits, timeout=asking.timeout,
                        inter_digit_timeout=self.defaults.inter_digit_timeout, terminator=asking.terminator,
                        barge_in=asking.barge_in, slot=asking.slot, speech=asking.speech,
                        listen_during_prompt=asking.listen_during_prompt, min_confidence=asking.min_confidence)

    async def ask(self, call: Call, asking: Asking, interpret: Callable[[Answer], Any], *,
                  accept: Callable[[Any], Awaitable[bool | str]] | None = None) -> tuple[Any, str | None]:
        """Ask until understood.

        ``interpret`` turns an answer into a value, None (no match) or :data:`INVALID`
        (understood but not acceptable: ``asking.invalid``). ``accept`` may confirm a value:
        True keeps it, False asks again, a node id leaves the question. Returns (value, None) on
        an answer, or (None, next_node) when the caller asked for an agent or the retries ran out.
        """
        d = self.defaults
        lead: list[str] = []
        stats = {"node": asking.id, "attempts": 0, "noinput": 0, "nomatch": 0, "invalid": 0}
        for attempt in range(1, asking.retries + 1):
            stats["attempts"] = attempt
            prompt = asking.prompt if attempt == 1 or not asking.reprompt else asking.reprompt
            keypad_only = not (asking.speech and self.services.listener.speech_available)
            if keypad_only and asking.keypad_prompt:
                prompt = asking.keypad_prompt
            typed, call.typed_ahead = call.typed_ahead, None
            answer = await self.services.listener.ask(call.channel, self._question(asking, lead + [prompt]), typed)
            lead = []
            if answer.empty:
                stats["noinput"] += 1
                call.log.info("noinput", node=asking.id, attempt=attempt)
                if asking.noinput.next:
                    _note_recognition(call, stats, answer)
                    return None, asking.noinput.next
                lead = [asking.noinput.prompt] if asking.noinput.prompt else []
                continue
            if (d.agent_key is not None and answer.mode == "dtmf" and answer.digits == d.agent_key) or (
                answer.mode == "speech" and answer.value == AGENT
            ):
                _note_recognition(call, stats, answer)
                return None, d.agent
            value = interpret(answer)
            if value is None or value is INVALID:
                kind = "nomatch" if value is None else "invalid"
                stats[kind] += 1
                call.log.info(kind, node=asking.id, attempt=attempt, mode=answer.mode)
                reaction = asking.nomatch if value is None else asking.invalid
                assert reaction is not None
                if reaction.next:
                    _note_recognition(call, stats, answer)
                    return None, reaction.next
                lead = [reaction.prompt] if reaction.prompt else []
                continue
            if accept is not None:
                verdict = await accept(value)
                if verdict is False:
                    continue
                if verdict is not True:
                    _note_recognition(call, stats, answer)
                    return None, verdict
            _note_recognition(call, stats, answer)
            return value, None
        _note_recognition(call, stats, None)
        return None, asking.on_fail

    # -- the three question nodes ---------------------------------------------------------------

    async def menu(self, node: MenuNode, node_id: str, call: Call) -> str | None:
        by_key = {c.key: c for c in node.choices if c.key is not None}
        by_value = {c.value: c for c in node.choices}

        def interpret(answer: Answer):
            if answer.mode == "dtmf":
                return by_key.get(answer.digits)
            if answer.value in by_value:
                return by_value[answer.value]
            words = answer.text.lower()
            return next((c for c in node.choices if any(w in words for w in c.words)), None)

        slot = self.services.slots.get(node.slot) if node.slot else None
        choice, fallback = await self.ask(call, Asking.of(node_id, node, self.defaults, slot=slot), interpret)
        if choice is None:
            return fallback
        _store(call, node.store, choice.value)
        return choice.next

    async def confirm(self, node: ConfirmNode, node_id: str, call: Call) -> str | None:
        asking = Asking.of(node_id, node, self.defaults, slot=self.services.slots.get("yes_no"))
        answer, fallback = await self.ask(call, asking, yes_no)
        if answer is None:
            return fallback
        _store(call, node.store, answer == "yes")
        return node.yes if answer == "yes" else node.no

    async def collect(self, node: CollectNode, node_id: str, call: Call) -> str | None:
        slot = self.services.slots[node.slot]
        check = self.services.validators[node.validator] if node.validator else None

        def interpret(answer: Answer):
            digits = answer.value if answer.mode == "speech" else answer.digits
            if not isinstance(digits, str) or not digits.isdigit():
                return None
            if not (node.min_digits <= len(digits) <= node.max_digits):
                return INVALID
            if check is not None and not check(digits):
                return INVALID
            return digits

        async def accept(value: str) -> bool | str:
            if node.confirm is None:
                return True
            return await self._confirm_value(call, node_id, node, value)

        asking = Asking.of(node_id, node, self.defaults, max_digits=node.max_digits, terminator=True, slot=slot)
        value, fallback = await self.ask(call, asking, interpret, accept=accept)
        if value is None:
            return fallback
        # Personal data (a file number) is recorded with only its 2-digit key showing.
        _store(call, node.store, value, masked=mask_digits(value, 0, 2) if slot.personal else None)
        return node.next

    async def _confirm_value(self, call: Call, node_id: str, node: CollectNode, value: str) -> bool | str:
        """Read the value back and ask yes/no: True, False (ask again) or a node to leave to."""
        assert node.confirm is not None
        readback = await self.services.spoken.playback_path(say_digits_text(value))
        key = await play_until_key(call.channel, [self.services.prompts.playback_path(node.confirm.readback), readback])
        if key:
            call.typed_ahead = key
        d = self.defaults
        asking = Asking(id=f"{node_id}.confirm", prompt=node.confirm.prompt, keypad_prompt=node.confirm.keypad_prompt,
                        reprompt=None, retries=2, noinput=d.noinput, nomatch=d.nomatch, invalid=None,
                        on_fail=node.on_fail or d.on_fail, timeout=d.timeout, speech=node.speech,
                        barge_in=node.barge_in, min_confidence=d.min_confidence, slot=self.services.slots.get("yes_no"))
        answer, fallback = await self.ask(call, asking, yes_no)
        if answer is None:
            return fallback or d.on_fail
        return answer == "yes"

    async def callback_accepted(self, call: Call, node_id: str) -> bool:
        """« Voulez-vous être rappelé ? » — no answer or no match means the caller waits in the queue."""
        d = self.defaults
        leave = Reaction(next=LEAVE)
        asking = Asking(id=f"{node_id}.rappel", prompt="offre_rappel", keypad_prompt="offre_rappel_clavier",
                        reprompt=None, retries=1, noinput=leave, nomatch=leave, invalid=None, on_fail=LEAVE,
                        timeout=d.timeout, min_confidence=d.min_confidence, slot=self.services.slots.get("yes_no"))
        answer, _ = await self.ask(call, asking, yes_no)
        return answer == "yes"


def _note_recognition(call: Call, stats: dict[str, Any], answer: Answer | None) -> None:
    entry = dict(stats)
    entry["mode"] = answer.mode if answer else "none"
    if answer is not None and answer.details.get("via"):
        entry["via"] = answer.details["via"]
    if answer is not None and answer.confidence is not None:
        entry["confidence"] = round(answer.confidence, 3)
    if answer is not None and answer.details.get("ms") is not None:
        entry["ms"] = answer.details["ms"]
    call.record.recognition.append(entry)


def _store(call: Call, name: str | None, value: Any, *, masked: str | None = None) -> None:
    if name:
        call.variables[name] = value
        call.record.slots[name] = masked if masked is not None else value
