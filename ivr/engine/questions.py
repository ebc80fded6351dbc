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
from .defaults import Defaults, Reaction
from .services import EngineServices

__all__ = ["Asking", "QuestionLoop", "Accepted", "INVALID", "LEAVE", "yes_no", "store_answer"]

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
    """``yes``, ``no`` (keys 1 and 2, or the words), or None."""
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


def store_answer(call: Call, name: str | None, value: Any, *, masked: str | None = None) -> None:
    """Keep an answer in the call's variables and record (``masked`` in the record, for personal data)."""
    if name:
        call.variables[name] = value
        call.record.slots[name] = masked if masked is not None else value
