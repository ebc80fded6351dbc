"""The flow interpreter: walks a validated flow's nodes over the AGI session.

Each node kind has one small coroutine that does its work and returns the id
of the next node (or None when the call is over). Questions share one retry
loop with no-input / no-match handling; any question that cannot get an
answer ends at an agent, never in silence. Exceptions are left to the call
handler, which apologises and routes (outcome ``error_routed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ..agi.errors import CallerHungUp
from ..calls.call import Call
from ..calls.outcomes import Outcome
from ..privacy import mask_file_number
from ..routing.hours import WeeklyHours, parse_ranges
from ..speech.slots import SLOTS
from ..tts.catalog import Catalog
from ..tts.dynamic import DynamicPrompts
from .filenumber import is_valid_file_number
from .inputs import Answer, KeypadListener, Listener, Question
from .model import (
    BranchNode,
    Handler,
    CollectNode,
    ConfirmNode,
    FlowModel,
    HangupNode,
    HoursNode,
    LookupNode,
    MenuNode,
    PlayNode,
    ReturnNode,
    RouteNode,
    SayNode,
    SetNode,
    SubflowNode,
)
from ..routing.router import RulesRouter
from ..routing.rules import Decision, load_rules
from .readback import say_date_text, say_digits_text, say_wait_text
from .template import lookup as lookup_var
from .template import render

__all__ = ["FlowRunner", "EngineServices", "LookupResult", "LookupService", "Router", "CallbackBook", "FlowError"]

MAX_STEPS = 400  # a call visiting more nodes than this is looping: fail it to an agent


class FlowError(RuntimeError):
    """The flow cannot go on (bad state at run time); the call handler routes the caller."""


@dataclass
class LookupResult:
    status: str  # one of the service's statuses, e.g. found / not_found / invalid
    data: dict[str, Any] = field(default_factory=dict)


class LookupService(Protocol):
    statuses: set[str]

    async def lookup(self, **args: str) -> LookupResult: ...


class Router(Protocol):
    async def decide(self, call: Call, requested: str, reason: str) -> Decision:
        """Where a route node sends the caller; ``requested`` is the node's queue (maybe ``auto``)."""


class CallbackBook(Protocol):
    async def schedule(self, call: Call, decision: Decision) -> int:
        """Keep a callback (persisted) and return its id."""


@dataclass
class EngineServices:
    """What flows run with: prompts, lookups, routing, input."""

    catalog: Catalog
    dynamic: DynamicPrompts
    services: dict[str, LookupService] = field(default_factory=dict)
    router: Router = field(default_factory=lambda: RulesRouter(load_rules()))
    listener: Listener = field(default_factory=KeypadListener)
    callbacks: CallbackBook | None = None
    flows: Callable[[str], "FlowRunner | None"] = lambda name: None


class FlowRunner:
    """Runs one version of one flow. Implements :class:`ivr.calls.call.Flow`."""

    def __init__(self, model: FlowModel, version: str, services: EngineServices) -> None:
        self.model = model
        self.name = model.flow
        self.version = version
        self.svc = services
        self._kinds: dict[type, Callable[[Any, str, Call], Awaitable[str | None]]] = {
            PlayNode: self._play,
            MenuNode: self._menu,
            CollectNode: self._collect,
            ConfirmNode: self._confirm,
            LookupNode: self._lookup,
            SayNode: self._say,
            SetNode: self._set,
            BranchNode: self._branch,
            HoursNode: self._hours,
            RouteNode: self._route,
            HangupNode: self._hangup,
            SubflowNode: self._subflow,
            ReturnNode: self._return,
        }

    # -- walking -------------------------------------------------------------

    async def run(self, call: Call) -> None:
        call.visit("answer")
        await call.session.answer()
        await self.walk(call, self.model.start, prefix="")

    async def walk(self, call: Call, node_id: str | None, prefix: str) -> None:
        """Run nodes from ``node_id`` until one ends the call (or a ``return`` node)."""
        steps = 0
        while node_id is not None:
            steps += 1
            if steps > MAX_STEPS:
                raise FlowError(f"flow {self.name!r} visited more than {MAX_STEPS} nodes")
            node = self.model.nodes[node_id]
            call.visit(prefix + node_id)
            node_id = await self._kinds[type(node)](node, node_id, call)

    def _p(self, prompt_id: str) -> str:
        return self.svc.catalog.playback_path(prompt_id)

    async def _play_all(self, call: Call, prompts: list[str], barge_in: bool = False) -> str | None:
        """Play prompts in order; with barge-in, the first key stops them and is returned."""
        for prompt in prompts:
            played = await call.session.stream_file(self._p(prompt), "0123456789*#" if barge_in else "")
            if played.digit:
                return played.digit
        return None

    # -- simple nodes ---------------------------------------------------------

    async def _play(self, node: PlayNode, node_id: str, call: Call) -> str | None:
        key = await self._play_all(call, node.prompts, node.barge_in)
        if key:
            call.typed_ahead = key
        return node.next

    async def _set(self, node: SetNode, node_id: str, call: Call) -> str | None:
        for name, value in node.values.items():
            call.variables[name] = render(value, call.variables) if isinstance(value, str) else value
        return node.next

    async def _branch(self, node: BranchNode, node_id: str, call: Call) -> str | None:
        for case in node.cases:
            value = lookup_var(call.variables, case.var)
            if case.exists is not None:
                hit = (value not in (None, "")) == case.exists
            elif case.one_of is not None:
                hit = value in case.one_of or str(value) in [str(v) for v in case.one_of]
            elif case.not_equals is not None:
                hit = value != case.not_equals and str(value) != str(case.not_equals)
            else:
                hit = value == case.equals or (value is not None and str(value) == str(case.equals))
            if hit:
                return case.next
        return node.default

    async def _hours(self, node: HoursNode, node_id: str, call: Call) -> str | None:
        hours = WeeklyHours(
            timezone=node.timezone,
            weekly={day: parse_ranges(text) for day, text in node.weekly.items()},
            public_holidays=node.public_holidays,
            closed_dates=frozenset(date.fromisoformat(d) for d in node.closed_dates),
        )
        is_open = hours.is_open(call.now)
        call.variables["open"] = is_open
        return node.open if is_open else node.closed

    async def _say(self, node: SayNode, node_id: str, call: Call) -> str | None:
        for part in node.parts:
            if part.prompt:
                path = self._p(part.prompt)
            else:
                text = self._part_text(part, call)
                if not text.strip():
                    continue  # nothing to say (optional value absent)
                path = await self.svc.dynamic.playback_path(text)
            played = await call.session.stream_file(path, "0123456789*#" if node.barge_in else "")
            if played.digit:
                call.typed_ahead = played.digit
                break
        return node.next

    def _part_text(self, part, call: Call) -> str:
        if part.text is not None:
            return render(part.text, call.variables)
        if part.digits is not None:
            return say_digits_text(render(part.digits, call.variables))
        value = render(part.date or "", call.variables)
        return say_date_text(value, call.now.date()) if value else ""

    async def _subflow(self, node: SubflowNode, node_id: str, call: Call) -> str | None:
        sub = self.svc.flows(node.flow)
        if sub is None:
            raise FlowError(f"subflow {node.flow!r} is not loaded")
        await sub.walk(call, sub.model.start, prefix=f"{node.flow}/")
        return None if call.outcome is not None else node.next

    async def _return(self, node: ReturnNode, node_id: str, call: Call) -> str | None:
        return None

    # -- ending nodes ---------------------------------------------------------

    async def _route(self, node: RouteNode, node_id: str, call: Call) -> str | None:
        decision = await self.svc.router.decide(call, node.queue, node.reason)
        await self._play_all(call, node.prompts)
        if node.announce_wait and decision.announce_wait and decision.expected_wait is not None:
            path = await self.svc.dynamic.playback_path(say_wait_text(decision.expected_wait))
            await call.session.stream_file(path, "")
        if node.offer_callback and decision.offer_callback and self.svc.callbacks is not None:
            if await self._callback_accepted(call, node_id):
                callback_id = await self.svc.callbacks.schedule(call, decision)
                call.record.slots["callback_id"] = callback_id
                ending = " ".join(d for d in call.caller_number if d.isdigit())[-3:]
                path = await self.svc.dynamic.playback_path(
                    f"C'est noté. Un conseiller vous rappellera au numéro se terminant par {ending}, "
                    f"dès que possible. Merci de votre appel, au revoir.")
                await call.session.stream_file(path, "")
                call.record.queue = decision.queue
                call.finish(Outcome.CALLBACK, decision.reason)
                await call.session.set_variable("IVR_OUTCOME", Outcome.CALLBACK.value)
                await call.session.hangup()
                return None
        context = {name: render(template, call.variables) for name, template in node.context.items()}
        if decision.priority:
            context["priority"] = str(decision.priority)
        await call.route(decision.queue, decision.reason, **context)
        return None

    async def _callback_accepted(self, call: Call, node_id: str) -> bool:
        """« Voulez-vous être rappelé ? » — no answer or no match means the caller waits in the queue."""
        offer = ConfirmNode(kind="confirm", prompt="offre_rappel", keypad_prompt="offre_rappel_clavier",
                            yes="-", no="-", retries=1, noinput=Handler(next="-"), nomatch=Handler(next="-"),
                            on_fail="-")
        answer, _ = await self._ask(call, f"{node_id}.rappel", offer, _yes_no,
                                    question_kw={"max_digits": 1, "slot": SLOTS["yes_no"]})
        return answer == "yes"

    async def _hangup(self, node: HangupNode, node_id: str, call: Call) -> str | None:
        await self._play_all(call, node.prompts)
        call.finish(Outcome(node.outcome), node.reason)
        await call.session.set_variable("IVR_OUTCOME", node.outcome)
        await call.session.hangup()
        return None

    # -- lookups --------------------------------------------------------------

    async def _lookup(self, node: LookupNode, node_id: str, call: Call) -> str | None:
        service = self.svc.services.get(node.service)
        if service is None:
            raise FlowError(f"lookup service {node.service!r} is not configured")
        args = {name: render(template, call.variables) for name, template in node.args.items()}
        started = time.monotonic()
        task = asyncio.create_task(service.lookup(**args))
        hangup = asyncio.create_task(call.session.wait_hangup())
        try:
            done, _ = await asyncio.wait({task, hangup}, timeout=node.wait_after,
                                         return_when=asyncio.FIRST_COMPLETED)
            if hangup in done:
                raise CallerHungUp("during lookup")
            if task not in done and node.wait_prompt:
                # Slow back end: tell the caller we are working rather than stay silent.
                await call.session.stream_file(self._p(node.wait_prompt), "")
            remaining = node.timeout - (time.monotonic() - started)
            if not task.done():
                done, _ = await asyncio.wait({task, hangup}, timeout=max(remaining, 0),
                                             return_when=asyncio.FIRST_COMPLETED)
                if hangup in done and task not in done:
                    raise CallerHungUp("during lookup")
            ms = round((time.monotonic() - started) * 1000, 1)
            if not task.done():
                call.variables[node.store] = {"error": "timeout"}
                call.record.lookups.append({"service": node.service, "status": "timeout", "ms": ms})
                call.log.warning("lookup_timeout", service=node.service, timeout_s=node.timeout)
                return node.on_error
            try:
                result = task.result()
            except Exception as exc:  # the service failed: that is a branch of the flow, not a crash
                call.variables[node.store] = {"error": type(exc).__name__}
                call.record.lookups.append({"service": node.service, "status": "error", "ms": ms})
                call.log.warning("lookup_failed", service=node.service, error=str(exc))
                return node.on_error
        finally:
            for t in (task, hangup):
                if not t.done():
                    t.cancel()
        call.variables[node.store] = {"status": result.status, **result.data}
        call.record.lookups.append({"service": node.service, "status": result.status, "ms": ms})
        call.log.info("lookup_done", service=node.service, status=result.status, ms=ms)
        return node.on.get(result.status, node.on_error)

    # -- questions ------------------------------------------------------------

    def _question(self, node, prompts: list[str], **kw: Any) -> Question:
        d = self.model.defaults
        return Question(
            prompts=[self._p(p) for p in prompts],
            timeout=node.timeout or d.timeout,
            inter_digit_timeout=d.inter_digit_timeout,
            barge_in=node.barge_in,
            speech=node.speech,
            listen_during_prompt=node.listen_during_prompt,
            # A value read back for confirmation may be unsure: the caller corrects it.
            min_confidence=0.0 if getattr(node, "confirm", None) else d.min_confidence,
            **kw,
        )

    async def _ask(
        self,
        call: Call,
        node_id: str,
        node,
        interpret: Callable[[Answer], Any],
        *,
        question_kw: dict[str, Any],
        accept: Callable[[Any], Awaitable[bool | str]] | None = None,
    ) -> tuple[Any, str | None]:
        """The retry loop shared by every question.

        ``interpret`` turns an answer into a value, None (no match) or
        :data:`INVALID` (understood but not acceptable: ``node.invalid``).
        ``accept`` may confirm a value: True keeps it, False asks again, a
        node id leaves the question. Returns (value, None) on an answer, or
        (None, next_node) when the caller asked for an agent or when the
        retries ran out.
        """
        d = self.model.defaults
        retries = node.retries or d.retries
        noinput = node.noinput or d.noinput
        nomatch = node.nomatch or d.nomatch
        lead: list[str] = []
        stats = {"node": node_id, "attempts": 0, "noinput": 0, "nomatch": 0, "invalid": 0}
        for attempt in range(1, retries + 1):
            stats["attempts"] = attempt
            prompt = node.prompt if attempt == 1 or not node.reprompt else node.reprompt
            keypad_only = not (node.speech and getattr(self.svc.listener, "speech_available", False))
            if keypad_only and node.keypad_prompt:
                prompt = node.keypad_prompt
            question = self._question(node, lead + [prompt], **question_kw)
            typed, call.typed_ahead = call.typed_ahead, None
            if typed:
                # A key pressed during the previous prompt answers this question.
                answer = Answer("dtmf", digits=await KeypadListener().more_digits(call.session, question, typed),
                                details={"via": "agi"})
            else:
                answer = await self.svc.listener.ask(call.session, question)
            lead = []
            if answer.empty:
                stats["noinput"] += 1
                call.log.info("noinput", node=node_id, attempt=attempt)
                if noinput.next:
                    self._note_recognition(call, stats, answer)
                    return None, noinput.next
                lead = [noinput.prompt] if noinput.prompt else []
                continue
            if (d.agent_key is not None and answer.mode == "dtmf" and answer.digits == d.agent_key) or (
                answer.mode == "speech" and answer.value == "agent"
            ):
                self._note_recognition(call, stats, answer)
                return None, d.agent
            value = interpret(answer)
            if value is None or value is INVALID:
                kind = "nomatch" if value is None else "invalid"
                stats[kind] += 1
                call.log.info(kind, node=node_id, attempt=attempt, mode=answer.mode)
                handler = nomatch if value is None else node.invalid
                if handler.next:
                    self._note_recognition(call, stats, answer)
                    return None, handler.next
                lead = [handler.prompt] if handler.prompt else []
                continue
            if accept is not None:
                verdict = await accept(value)
                if verdict is False:
                    continue
                if verdict is not True:
                    self._note_recognition(call, stats, answer)
                    return None, verdict
            self._note_recognition(call, stats, answer)
            return value, None
        self._note_recognition(call, stats, None)
        return None, node.on_fail or d.on_fail

    def _note_recognition(self, call: Call, stats: dict[str, Any], answer: Answer | None) -> None:
        entry = dict(stats)
        entry["mode"] = answer.mode if answer else "none"
        if answer is not None and answer.details.get("via"):
            entry["via"] = answer.details["via"]
        if answer is not None and answer.confidence is not None:
            entry["confidence"] = round(answer.confidence, 3)
        if answer is not None and answer.details.get("ms") is not None:
            entry["ms"] = answer.details["ms"]
        call.record.recognition.append(entry)

    def _store(self, call: Call, name: str | None, value: Any, *, masked: str | None = None) -> None:
        if name:
            call.variables[name] = value
            call.record.slots[name] = masked if masked is not None else value

    async def _menu(self, node: MenuNode, node_id: str, call: Call) -> str | None:
        by_key = {c.key: c for c in node.choices if c.key is not None}
        by_value = {c.value: c for c in node.choices}

        def interpret(answer: Answer):
            if answer.mode == "dtmf":
                return by_key.get(answer.digits)
            if answer.value in by_value:
                return by_value[answer.value]
            words = answer.text.lower()
            return next((c for c in node.choices if any(w in words for w in c.words)), None)

        slot = SLOTS.get(node.slot) if node.slot else None
        choice, fallback = await self._ask(call, node_id, node, interpret,
                                           question_kw={"max_digits": 1, "slot": slot})
        if choice is None:
            return fallback
        self._store(call, node.store, choice.value)
        return choice.next

    async def _confirm(self, node: ConfirmNode, node_id: str, call: Call) -> str | None:
        answer_value, fallback = await self._ask(call, node_id, node, _yes_no,
                                                 question_kw={"max_digits": 1, "slot": SLOTS["yes_no"]})
        if answer_value is None:
            return fallback
        self._store(call, node.store, answer_value == "yes")
        return node.yes if answer_value == "yes" else node.no

    async def _collect(self, node: CollectNode, node_id: str, call: Call) -> str | None:
        slot = SLOTS[node.slot]

        def interpret(answer: Answer):
            digits = answer.value if answer.mode == "speech" else answer.digits
            if not isinstance(digits, str) or not digits.isdigit():
                return None
            if not (node.min_digits <= len(digits) <= node.max_digits):
                return INVALID
            if node.validator == "mod97" and not is_valid_file_number(digits):
                return INVALID
            return digits

        async def accept(value: str) -> bool | str:
            if node.confirm is None:
                return True
            return await self._confirm_value(call, node_id, node, value)

        value, fallback = await self._ask(
            call, node_id, node, interpret, accept=accept,
            question_kw={"max_digits": node.max_digits, "terminator": True, "slot": slot},
        )
        if value is None:
            return fallback
        masked = mask_file_number(value) if node.slot == "file_number" else value
        self._store(call, node.store, value, masked=masked)
        return node.next

    async def _confirm_value(self, call: Call, node_id: str, node: CollectNode, value: str) -> bool | str:
        """Read the value back and ask yes/no: True, False (ask again) or a node to leave to."""
        assert node.confirm is not None
        readback = await self.svc.dynamic.playback_path(say_digits_text(value))
        key = await self._play_all(call, [node.confirm.readback], barge_in=True)
        if not key:
            key = (await call.session.stream_file(readback, "0123456789*#")).digit
        if key:
            call.typed_ahead = key
        question = ConfirmNode(kind="confirm", prompt=node.confirm.prompt, keypad_prompt=node.confirm.keypad_prompt,
                               yes="-", no="-", retries=2,
                               on_fail=node.on_fail, speech=node.speech, barge_in=node.barge_in)
        answer, fallback = await self._ask(call, f"{node_id}.confirm", question, _yes_no,
                                           question_kw={"max_digits": 1, "slot": SLOTS["yes_no"]})
        if answer is None:
            return fallback or self.model.defaults.on_fail
        return answer == "yes"


#: An answer that was understood but is not acceptable (a file number with a wrong key).
INVALID = object()

_YES_KEYS = {"1": "yes", "2": "no"}


def _yes_no(answer: Answer) -> str | None:
    if answer.mode == "dtmf":
        return _YES_KEYS.get(answer.digits)
    return answer.value if answer.value in ("yes", "no") else None
