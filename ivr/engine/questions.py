"""Questions: how a menu, a digit collection or a yes/no is asked, retried and understood.

One retry loop serves every question. It asks through the listener, counts no-input, no-match and
invalid answers, plays the right reprompt, sends « conseiller » / the agent key to the agent node,
and ends at ``on_fail`` when the caller cannot be understood — never in silence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..calls.call import Call
from ..interfaces import AGENT, Answer, Question, SlotSpec
from ..playback import play_until_key
from ..privacy import mask_digits
from ..tts.sentences import say_digits_text
from ..understanding.digits import parse_digits
from ..understanding.readings import best_reading
from .model import CollectNode, ConfirmNode, Defaults, MenuNode, Reaction
from .services import EngineServices

__all__ = ["Asking", "QuestionLoop", "Accepted", "INVALID", "LEAVE"]

#: An answer that was understood but is not acceptable (a file number with a wrong key).
INVALID = object()
#: Where a question "goes" when it is part of another node's work (the callback offer): nowhere.
LEAVE = "-"

_YES_KEYS = {"1": "yes", "2": "no"}


@dataclass(frozen=True)
class Accepted:
    """A confirmation kept another value than the one first heard (the caller confirmed an alternative)."""

    value: Any


#: How the loop hears one attempt: (call, the question, a key typed ahead) → the answer.
Listen = Callable[[Call, Question, "str | None"], Awaitable[Answer]]


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
                  accept: Callable[[Any, Answer], Awaitable[bool | str | Accepted]] | None = None,
                  listen: Listen | None = None) -> tuple[Any, str | None]:
        """Ask until understood.

        ``interpret`` turns an answer into a value, None (no match) or :data:`INVALID`
        (understood but not acceptable: ``asking.invalid``). ``accept`` may confirm a value:
        True keeps it, :class:`Accepted` keeps another, False asks again, a node id leaves the
        question. ``listen`` replaces the listener for an attempt (parts of a number). Returns
        (value, None) on an answer, or (None, next_node) when the caller asked for an agent or the
        retries ran out.
        """
        d = self.defaults
        lead: list[str] = []
        call.record.questions += 1
        # ``speech``: turns where the caller spoke (the recogniser heard words); ``speech_ok``: the one
        # that ended the question with an accepted answer (the KPI "recognition success" per attempt).
        stats = {"node": asking.id, "attempts": 0, "noinput": 0, "nomatch": 0, "invalid": 0, "speech": 0,
                 "speech_ok": 0}
        for attempt in range(1, asking.retries + 1):
            stats["attempts"] = attempt
            prompt = asking.prompt if attempt == 1 or not asking.reprompt else asking.reprompt
            keypad_only = not (asking.speech and self.services.listener.speech_available)
            if keypad_only and asking.keypad_prompt:
                prompt = asking.keypad_prompt
            typed, call.typed_ahead = call.typed_ahead, None
            question = self._question(asking, lead + [prompt])
            if listen is not None:
                answer = await listen(call, question, typed)
            else:
                answer = await self.services.listener.ask(call.channel, question, typed)
            lead = []
            if answer.mode == "speech" and not answer.empty:
                stats["speech"] += 1
            if answer.details.get("leave"):  # a part of the answer ended at an agent
                _note_recognition(call, stats, answer)
                return None, answer.details["leave"]
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
                _note_recognition(call, stats, answer, understood=True)
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
                verdict = await accept(value, answer)
                if verdict is False:
                    continue
                if isinstance(verdict, Accepted):
                    value = verdict.value
                elif verdict is not True:
                    _note_recognition(call, stats, answer)
                    return None, verdict
            _note_recognition(call, stats, answer, understood=True)
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
        spoken_invalid = False

        def valid(digits: object) -> bool:
            return (isinstance(digits, str) and digits.isdigit() and node.min_digits <= len(digits) <= node.max_digits
                    and (check is None or check(digits)))

        def interpret(answer: Answer):
            nonlocal spoken_invalid
            digits = answer.value if answer.mode == "speech" else answer.digits
            if not isinstance(digits, str) or not digits.isdigit():
                return None
            if not valid(digits):
                spoken_invalid = answer.mode == "speech"
                return INVALID
            return digits

        async def accept(value: str, answer: Answer) -> bool | str | Accepted:
            if node.confirm is None or answer.details.get("confirmed"):
                return True
            verdict = await self._confirm_value(call, node_id, node, value)
            # A digit string the caller may have meant otherwise: offer the next reading before asking again.
            for other in answer.details.get("alternatives", []):
                if verdict is not False:
                    break
                if valid(other):
                    verdict = await self._confirm_value(call, node_id, node, other)
                    if verdict is True:
                        return Accepted(other)
            return verdict

        async def listen(call_: Call, question: Question, typed: str | None) -> Answer:
            nonlocal spoken_invalid
            if node.chunks is not None and spoken_invalid and not typed:
                spoken_invalid = False
                return await self._in_parts(call_, node_id, node, slot, question)
            return await self.services.listener.ask(call_.channel, question, typed)

        asking = Asking.of(node_id, node, self.defaults, max_digits=node.max_digits, terminator=True, slot=slot)
        value, fallback = await self.ask(call, asking, interpret, accept=accept, listen=listen)
        if value is None:
            return fallback
        # Personal data (a file number) is recorded with only its 2-digit key showing.
        _store(call, node.store, value, masked=mask_digits(value, 0, 2) if slot.personal else None)
        return node.next

    async def _in_parts(self, call: Call, node_id: str, node: CollectNode, slot: SlotSpec, question: Question) -> Answer:
        """After a spoken number that was not valid: « les quatre premiers chiffres… », then the rest,
        each part read back and confirmed; keys work all along. The parts make one answer."""
        assert node.chunks is not None
        typed = await play_until_key(call.channel, question.prompts[:-1], barge_in=question.barge_in)
        if typed:  # the caller went for the keypad: the whole number, as usual
            return await self.services.listener.ask(call.channel, dataclasses.replace(question, prompts=question.prompts[-1:]), typed)
        d = self.defaults
        parts: list[str] = []
        for k, (size, prompt) in enumerate(zip(node.chunks.sizes, node.chunks.prompts, strict=True), start=1):
            part_slot = SlotSpec(f"{slot.name}_part", digits=True, length=size, phrases=slot.phrases,
                                 parse=lambda text, n=size: best_reading(text, lambda v: True, length=n) or parse_digits(text))
            asking = Asking(id=f"{node_id}.part{k}", prompt=prompt, keypad_prompt=None, reprompt=None, retries=2,
                            noinput=d.noinput, nomatch=d.nomatch, invalid=Reaction(prompt=node.invalid.prompt),
                            on_fail=node.on_fail or d.on_fail, timeout=node.timeout or d.timeout, speech=node.speech,
                            barge_in=node.barge_in, max_digits=size, terminator=True, slot=part_slot)

            def interpret(answer: Answer, n: int = size):
                digits = answer.value if answer.mode == "speech" else answer.digits
                if not isinstance(digits, str) or not digits.isdigit():
                    return None
                return digits if len(digits) == n else INVALID

            async def confirm(value: str, answer: Answer) -> bool | str:
                return True if node.confirm is None else await self._confirm_value(call, f"{node_id}.part", node, value)

            value, leave = await self.ask(call, asking, interpret, accept=confirm)
            if value is None:
                return Answer("none", details={"leave": leave})
            parts.append(value)
        return Answer("speech", value="".join(parts), text=" ".join(parts),
                      details={"via": "parts", "confirmed": node.confirm is not None})

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


def _note_recognition(call: Call, stats: dict[str, Any], answer: Answer | None, *, understood: bool = False) -> None:
    entry = dict(stats)
    entry.update(call.when())
    if understood and answer is not None and answer.mode == "speech":
        entry["speech_ok"] = 1
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
