"""Questions: how a menu, a digit collection or a yes/no is asked, retried and understood.

One retry loop serves every question. It asks through the listener, counts no-input, no-match and
invalid answers, plays the right reprompt, sends « conseiller » / the agent key to the agent node,
replays the question on « répétez » / the repeat key (slower for the rest of the call on « moins
vite » / the slower key, or a second « je n'ai pas compris ») and holds it on « un instant » / the
pause key without counting a try, and ends at
``on_fail`` when the caller cannot be understood — never in silence.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ..calls.call import Call
from ..interfaces import AGENT, PAUSE, REPEAT, SLOWER, Answer, Question, SlotSpec
from ..understanding.answers import says_not_understood
from .defaults import Defaults, Reaction
from .services import EngineServices

#: The question a route node asks when the wait is very long (spoken, then keypad wording): the
#: catalog must keep both for any route that offers a callback.
CALLBACK_OFFER = ("offre_rappel", "offre_rappel_clavier")
#: What a caller who asked a question to wait hears: first, then every ``defaults.pause.remind_every``.
PAUSE_PROMPTS = ("pause_debut", "pause_rappel")

__all__ = ["CALLBACK_OFFER", "PAUSE_PROMPTS", "Asking", "QuestionLoop", "Accepted", "INVALID", "LEAVE", "yes_no", "store_answer"]

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
#: How a value is confirmed: True keeps it, :class:`Accepted` keeps another, False asks again, a node id leaves.
Accept = Callable[[Any, Answer], Awaitable["bool | str | Accepted"]]


class Miss(Enum):
    """A try that did not give an acceptable answer."""

    NOINPUT = "noinput"
    NOMATCH = "nomatch"
    INVALID = "invalid"


@dataclass(frozen=True)
class Turn:
    """What one try comes to: the question ends (with a value, or leaving to a node), or it is asked again
    after ``lead`` (the reaction's prompt)."""

    ends: bool
    value: Any = None
    leave: str | None = None
    lead: list[str] = field(default_factory=list)
    understood: bool = False

    @classmethod
    def answered(cls, value: Any) -> Turn:
        return cls(True, value=value, understood=True)

    @classmethod
    def left(cls, node: str, *, understood: bool = False) -> Turn:
        return cls(True, leave=node, understood=understood)

    @classmethod
    def again(cls, lead: list[str] | None = None) -> Turn:
        return cls(False, lead=lead or [])


@dataclass
class Tally:
    """One question's tries, as the call record keeps them (the KPI "recognition success" per try):
    ``speech`` counts tries where the caller spoke (the recogniser heard words)."""

    node: str
    #: The slot the question fills (the indicators read the rating question's by it).
    slot: str = ""
    attempts: int = 0
    noinput: int = 0
    nomatch: int = 0
    invalid: int = 0
    speech: int = 0
    #: Times the caller asked to hear the question again, or for time to answer (never failed tries).
    repeats: int = 0
    pauses: int = 0
    #: The line slowed down at this question (« moins vite », the slower key, « je n'ai pas compris » twice).
    slowed: bool = False

    def count(self, miss: Miss) -> None:
        setattr(self, miss.value, getattr(self, miss.value) + 1)

    def note(self, call: Call, answer: Answer | None, *, understood: bool = False, value: Any = None) -> None:
        """The question's entry in the call record (``speech_ok``: it ended on an answer spoken and accepted;
        ``value``: the answer to a closed question, which the indicators split by: a title type, a rating)."""
        entry: dict[str, Any] = {**dataclasses.asdict(self), "speech_ok": 0, **call.when()}
        if value is not None:
            entry["value"] = str(value)
        if understood and answer is not None and answer.mode == "speech":
            entry["speech_ok"] = 1
        entry["mode"] = answer.mode if answer else "none"
        # How the answer came; "ended": whole_answer (no dead time after it); "after_speech_ms": how long
        # the caller waited between the end of their speech and the answer.
        for detail in ("via", "ended", "after_speech_ms"):
            if answer is not None and answer.details.get(detail):
                entry[detail] = answer.details[detail]
        if answer is not None and answer.confidence is not None:
            entry["confidence"] = round(answer.confidence, 3)
        if answer is not None and answer.details.get("ms") is not None:
            entry["ms"] = answer.details["ms"]
        call.record.recognition.append(entry)


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
    #: Played again before the question when the caller asks for a repeat (a readback: sound files).
    replay: tuple[str, ...] = ()


class QuestionLoop:
    """Asks the questions of one flow version."""

    def __init__(self, defaults: Defaults, services: EngineServices) -> None:
        self.defaults = defaults
        self.services = services

    def _question(self, call: Call, asking: Asking, prompts: list[str]) -> Question:
        return Question(prompts=[self.services.prompts.playback_path(p, slow=call.slow) for p in prompts],
                        max_digits=asking.max_digits, timeout=asking.timeout,
                        inter_digit_timeout=self.defaults.inter_digit_timeout, terminator=asking.terminator,
                        barge_in=asking.barge_in, slot=asking.slot, speech=asking.speech,
                        listen_during_prompt=asking.listen_during_prompt, min_confidence=asking.min_confidence,
                        end_silence=self.defaults.end_silence,
                        complete_silence=self.defaults.complete_answer_silence)

    async def ask(self, call: Call, asking: Asking, interpret: Callable[[Answer], Any], *,
                  accept: Accept | None = None, listen: Listen | None = None) -> tuple[Any, str | None]:
        """Ask until understood.

        ``interpret`` turns an answer into a value, None (no match) or :data:`INVALID`
        (understood but not acceptable: ``asking.invalid``). ``accept`` may confirm a value:
        True keeps it, :class:`Accepted` keeps another, False asks again, a node id leaves the
        question. ``listen`` replaces the listener for an attempt (parts of a number). Returns
        (value, None) on an answer, or (None, next_node) when the caller asked for an agent or the
        retries ran out.
        """
        call.record.questions += 1
        tally = Tally(asking.id, slot=asking.slot.name if asking.slot is not None else "")
        lead: list[str] = []
        attempt, replay = 1, False
        while attempt <= asking.retries:
            tally.attempts = attempt
            heard = await self._hear(call, asking, attempt, lead, listen, replay=replay)
            answer = await self._granted(call, asking, heard, tally)
            replay = answer is None
            if answer is None:  # a request granted: the same try again, from the question's first wording
                lead = []
                continue
            turn = await self._judge(call, asking, answer, tally, interpret, accept)
            if turn.ends:
                if asking.slot is not None and turn.value is not None:
                    call.answers[asking.slot.name] = getattr(turn.value, "value", turn.value)
                closed = asking.slot is not None and bool(asking.slot.values) and not asking.slot.personal
                # A menu's answer is its choice: the choice's value is what the record keeps.
                kept = getattr(turn.value, "value", turn.value) if closed else None
                tally.note(call, answer, understood=turn.understood, value=kept)
                return turn.value, turn.leave
            lead = turn.lead
            attempt += 1
        tally.note(call, None)
        return None, asking.on_fail

    async def _hear(self, call: Call, asking: Asking, attempt: int, lead: list[str], listen: Listen | None, *,
                    replay: bool = False) -> Answer:
        """One try: the prompt for it (the reprompt from the second, the keypad one without speech), after
        what the last try calls for (« je ne vous ai pas entendu »); keys typed ahead answer it at once.
        A ``replay`` (the caller asked for a repeat) plays what came before the question (a readback),
        then its first wording."""
        prompt = asking.prompt if attempt == 1 or replay or not asking.reprompt else asking.reprompt
        keypad_only = not (asking.speech and self.services.listener.offers_speech())
        if keypad_only and asking.keypad_prompt:
            prompt = asking.keypad_prompt
        typed, call.typed_ahead = call.typed_ahead, None
        question = self._question(call, asking, lead + [prompt])
        if keypad_only:
            question = dataclasses.replace(question, speech=False)  # asked in its keypad wording: keys only
        if replay and asking.replay:
            question = dataclasses.replace(question, prompts=[*asking.replay, *question.prompts])
        if listen is not None:
            return await listen(call, question, typed)
        return await self.services.listener.ask(call.channel, question, typed)

    async def _granted(self, call: Call, asking: Asking, answer: Answer, tally: Tally) -> Answer | None:
        """What a caller asked at a question, granted: None when the question is to be asked again (a
        repeat, slower speech, a pause that ran out), else the answer to judge (given during a pause, or
        not a request). Requests past their limits are judged as answers (not understood)."""
        if self._wants_pause(answer) and tally.pauses < self.defaults.pause.times:
            tally.pauses += 1
            call.log.info("pause", node=asking.id, attempt=tally.attempts)
            answer = await self._hold(call, asking)
            if answer.empty:
                return None
        slower = self._wants_slower(answer)
        if not (slower or self._wants_repeat(answer)) or tally.repeats >= self.defaults.max_repeats:
            return answer
        tally.repeats += 1
        call.log.info("repeat", node=asking.id, attempt=tally.attempts, slower=slower)
        if answer.mode == "speech" and says_not_understood(answer.text):
            call.not_understood += 1
        if not call.slow and (slower or call.not_understood >= 2):
            call.slow = tally.slowed = True
            call.log.info("slower", node=asking.id)
        return None

    async def _hold(self, call: Call, asking: Asking) -> Answer:
        """The caller asked the question to wait: « je vous attends », then a reminder every
        ``remind_every`` seconds up to ``limit``, listening all along (keys and speech, as the question
        does). The answer given meanwhile, or no answer when the time is up."""
        pause = self.defaults.pause
        waited, prompt = 0.0, PAUSE_PROMPTS[0]
        while waited < pause.limit:
            wait = min(pause.remind_every, pause.limit - waited)
            question = dataclasses.replace(self._question(call, asking, [prompt]), timeout=wait)
            typed, call.typed_ahead = call.typed_ahead, None
            answer = await self.services.listener.ask(call.channel, question, typed)
            if not answer.empty and not self._wants_pause(answer):
                return answer
            waited += wait
            prompt = PAUSE_PROMPTS[1]
        return Answer("none")

    async def _judge(self, call: Call, asking: Asking, answer: Answer, tally: Tally,
                     interpret: Callable[[Answer], Any], accept: Accept | None) -> Turn:
        """What one try's answer means: the question is over (an answer, an agent, a way out), or it
        is asked again after a reaction."""
        if answer.mode == "speech" and not answer.empty:
            tally.speech += 1
        if answer.details.get("leave"):  # a part of the answer ended at an agent
            return Turn.left(answer.details["leave"])
        if answer.empty:
            return self._missed(call, asking, tally, Miss.NOINPUT, answer)
        if self._wants_agent(answer):
            return Turn.left(self.defaults.agent, understood=True)
        value = interpret(answer)
        if value is None or value is INVALID:
            return self._missed(call, asking, tally, Miss.NOMATCH if value is None else Miss.INVALID, answer)
        if accept is None:
            return Turn.answered(value)
        verdict = await accept(value, answer)
        if verdict is False:
            return Turn.again()
        if isinstance(verdict, Accepted):
            return Turn.answered(verdict.value)
        return Turn.answered(value) if verdict is True else Turn.left(verdict)

    def _wants_pause(self, answer: Answer) -> bool:
        """The pause key alone, or « un instant » said."""
        return _asks(answer, self.defaults.pause.key, PAUSE)

    def _wants_slower(self, answer: Answer) -> bool:
        """The slower key alone, or « moins vite » said."""
        return _asks(answer, self.defaults.slower_key, SLOWER)

    def _wants_repeat(self, answer: Answer) -> bool:
        """The repeat key alone, or « répétez » said."""
        return _asks(answer, self.defaults.repeat_key, REPEAT)

    def _wants_agent(self, answer: Answer) -> bool:
        """The agent key, or « conseiller » said."""
        return _asks(answer, self.defaults.agent_key, AGENT)

    def _missed(self, call: Call, asking: Asking, tally: Tally, miss: Miss, answer: Answer) -> Turn:
        """No input, no match or an invalid answer: its reaction's prompt before the next try, or its way out."""
        tally.count(miss)
        call.log.info(miss.value, node=asking.id, attempt=tally.attempts,
                      **({} if miss is Miss.NOINPUT else {"mode": answer.mode}))
        reaction = {Miss.NOINPUT: asking.noinput, Miss.NOMATCH: asking.nomatch, Miss.INVALID: asking.invalid}[miss]
        assert reaction is not None
        if reaction.next:
            return Turn.left(reaction.next)
        return Turn.again([reaction.prompt] if reaction.prompt else [])

    async def callback_accepted(self, call: Call, node_id: str) -> bool:
        """« Voulez-vous être rappelé ? » — no answer or no match means the caller waits in the queue."""
        d = self.defaults
        leave = Reaction(next=LEAVE)
        asking = Asking(id=f"{node_id}.rappel", prompt=CALLBACK_OFFER[0], keypad_prompt=CALLBACK_OFFER[1],
                        reprompt=None, retries=1, noinput=leave, nomatch=leave, invalid=None, on_fail=LEAVE,
                        timeout=d.timeout, min_confidence=d.min_confidence, slot=self.services.slots.get("yes_no"))
        answer, _ = await self.ask(call, asking, yes_no)
        return bool(answer == "yes")


def _asks(answer: Answer, key: str | None, request: str) -> bool:
    """Whether ``answer`` is a caller's request: its key pressed alone, or its words said."""
    return (key is not None and answer.mode == "dtmf" and answer.digits == key) or \
        (answer.mode == "speech" and answer.value == request)


def store_answer(call: Call, name: str | None, value: Any, *, masked: str | None = None) -> None:
    """Keep an answer in the call's variables and record (``masked`` in the record, for personal data)."""
    if name:
        call.variables[name] = value
        call.record.slots[name] = masked if masked is not None else value
