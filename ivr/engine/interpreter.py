"""The flow interpreter: walks a validated flow's nodes over the caller's channel.

Each node does its own work (:meth:`~ivr.engine.nodes.base.NodeBase.run`) and names the next node
(or None when the call is over). Exceptions are left to the call supervisor, which apologises and
routes (``error_routed``).
"""

from __future__ import annotations

from ..calls.call import Call
from .defaults import Defaults
from .errors import FlowError
from .model import MAX_NODES_WITHOUT_INPUT, FlowModel
from .questions import QuestionLoop
from .services import EngineServices

__all__ = ["FlowRunner", "FlowError", "MAX_STEPS"]

#: A call running more nodes than this without waiting for the caller is looping: fail it to an agent.
MAX_STEPS = MAX_NODES_WITHOUT_INPUT


class FlowRunner:
    """Runs one version of one flow. Implements :class:`ivr.calls.call.Flow` and the nodes' ``Runner``."""

    def __init__(self, model: FlowModel, version: str, services: EngineServices) -> None:
        self.model = model
        self.name = model.flow
        self.version = version
        self.services = services
        self.defaults: Defaults = model.defaults
        self.questions = QuestionLoop(model.defaults, services)

    async def run(self, call: Call) -> None:
        """Run the flow for ``call``, from answer to the node that ends it."""
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
            node_id = await node.run(node_id, call, self)
            if node.waits_for_caller:
                steps = 0

    async def walk_from_start(self, call: Call, prefix: str) -> None:
        """Run this flow from its start node as a subflow of another."""
        await self.walk(call, self.model.start, prefix)

    def prompt_path(self, prompt_id: str, call: Call) -> str:
        """Where Asterisk finds the audio of a catalog prompt, at the pace the caller asked for."""
        return self.services.prompts.playback_path(prompt_id, slow=call.slow)

    async def run_subflow(self, flow: str, call: Call) -> None:
        """Run the flow ``flow`` on the call, then come back."""
        sub = self.services.flows(flow)
        if sub is None:
            raise FlowError(f"subflow {flow!r} is not loaded")
        await sub.walk_from_start(call, prefix=f"{flow}/")
