"""The flow interpreter: walks a validated flow's nodes over the caller's channel.

Each node kind has one small coroutine that does its work and returns the id of the next node
(or None when the call is over); questions, lookups and hand-offs have modules of their own.
Exceptions are left to the call supervisor, which apologises and routes (``error_routed``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..calls.call import Call
from ..playback import play_until_key
from ..tts.sentences import say_date_text, say_digits_text
from . import handoff
from .lookup import FlowError, run_lookup
from .model import (
    INPUT_KINDS,
    MAX_NODES_WITHOUT_INPUT,
    BranchNode,
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
    SayPart,
    SetNode,
    SubflowNode,
)
from .questions import QuestionLoop
from .services import EngineServices
from .template import lookup as lookup_var
from .template import render

__all__ = ["FlowRunner", "FlowError", "MAX_STEPS"]

#: A call running more nodes than this without waiting for the caller is looping: fail it to an agent.
MAX_STEPS = MAX_NODES_WITHOUT_INPUT


class FlowRunner:
    """Runs one version of one flow. Implements :class:`ivr.calls.call.Flow`."""

    def __init__(self, model: FlowModel, version: str, services: EngineServices) -> None:
        self.model = model
        self.name = model.flow
        self.version = version
        self.services = services
        self.questions = QuestionLoop(model.defaults, services)
        self._kinds: dict[type, Callable[[Any, str, Call], Awaitable[str | None]]] = {
            PlayNode: self._play,
            MenuNode: self.questions.menu,
            CollectNode: self.questions.collect,
            ConfirmNode: self.questions.confirm,
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

    async def run(self, call: Call) -> None:
        call.visit("answer")
        await call.channel.answer()
        await self.walk(call, self.model.start, prefix="")

    async def walk(self, call: Call, node_id: str | None, prefix: str) -> None:
        """Run nodes from ``node_id`` until one ends the call (or a ``return`` node)."""
        steps = 0  # nodes run since the caller was last asked something
        while node_id is not None:
            steps += 1
            if steps > MAX_STEPS:
                raise FlowError(f"flow {self.name!r} ran more than {MAX_STEPS} nodes without asking the caller")
            node = self.model.nodes[node_id]
            call.visit(prefix + node_id)
            node_id = await self._kinds[type(node)](node, node_id, call)
            if node.kind in INPUT_KINDS:
                steps = 0

    def _prompt_path(self, prompt_id: str) -> str:
        return self.services.prompts.playback_path(prompt_id)

    # -- nodes ------------------------------------------------------------------------------------

    async def _play(self, node: PlayNode, node_id: str, call: Call) -> str | None:
        key = await play_until_key(call.channel, [self._prompt_path(p) for p in node.prompts], barge_in=node.barge_in)
        if key:
            call.typed_ahead = key
        return node.next

    async def _set(self, node: SetNode, node_id: str, call: Call) -> str | None:
        for name, value in node.values.items():
            call.variables[name] = render(value, call.variables, self.services.filters) if isinstance(value, str) \
                else value
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
        is_open = node.schedule().is_open(call.now)
        call.variables["open"] = is_open
        return node.open if is_open else node.closed

    async def _say(self, node: SayNode, node_id: str, call: Call) -> str | None:
        for part in node.parts:
            if part.prompt:
                path = self._prompt_path(part.prompt)
            else:
                text = self._part_text(part, call)
                if not text.strip():
                    continue  # nothing to say (optional value absent)
                path = await self.services.spoken.playback_path(text)
            key = await play_until_key(call.channel, [path], barge_in=node.barge_in)
            if key:
                call.typed_ahead = key
                break
        return node.next

    def _part_text(self, part: SayPart, call: Call) -> str:
        filters = self.services.filters
        if part.text is not None:
            return render(part.text, call.variables, filters)
        if part.digits is not None:
            return say_digits_text(render(part.digits, call.variables, filters))
        value = render(part.date or "", call.variables, filters)
        return say_date_text(value, call.now.date()) if value else ""

    async def _lookup(self, node: LookupNode, node_id: str, call: Call) -> str | None:
        return await run_lookup(node, call, self.services)

    async def _route(self, node: RouteNode, node_id: str, call: Call) -> str | None:
        await handoff.route(node, node_id, call, self.services, self.questions)
        return None

    async def _hangup(self, node: HangupNode, node_id: str, call: Call) -> str | None:
        await handoff.hang_up(node, call, self.services)
        return None

    async def _subflow(self, node: SubflowNode, node_id: str, call: Call) -> str | None:
        sub = self.services.flows(node.flow)
        if sub is None:
            raise FlowError(f"subflow {node.flow!r} is not loaded")
        await sub.walk(call, sub.model.start, prefix=f"{node.flow}/")
        return None if call.outcome is not None else node.next

    async def _return(self, node: ReturnNode, node_id: str, call: Call) -> str | None:
        return None
