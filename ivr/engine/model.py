"""The typed model of a flow definition (what an administrator writes in YAML).

A flow is a named graph of nodes; each node has a ``kind`` (:mod:`ivr.engine.kinds`) and names the
nodes it can lead to. Shape errors (unknown kind, wrong field, bad value) are caught here by pydantic;
graph errors (missing targets, unreachable nodes, loops without input, unknown prompts) by
:mod:`ivr.engine.validate`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, field_validator

from .defaults import Defaults, Reaction
from .kinds import KINDS
from .nodes.base import NodeBase
from .nodes.branch import BranchNode, Condition
from .nodes.collect import ChunkSpec, CollectNode, ConfirmSpec
from .nodes.confirm import ConfirmNode
from .nodes.hangup import HangupNode
from .nodes.hours import HoursNode
from .nodes.lookup import LookupNode
from .nodes.menu import Choice, MenuNode
from .nodes.play import PlayNode
from .nodes.returns import ReturnNode
from .nodes.route import RouteNode
from .nodes.say import SayNode, SayPart
from .nodes.setvars import SetNode
from .nodes.subflow import SubflowNode

__all__ = [
    "FlowModel", "Defaults", "Reaction", "NodeBase", "MAX_NODES_WITHOUT_INPUT", "FLOW_NAME",
    # The shipped kinds, for code that builds flows by hand.
    "PlayNode", "MenuNode", "Choice", "CollectNode", "ChunkSpec", "ConfirmSpec", "ConfirmNode", "LookupNode",
    "SayNode", "SayPart", "SetNode", "BranchNode", "Condition", "HoursNode", "RouteNode", "HangupNode",
    "SubflowNode", "ReturnNode",
]

#: The most nodes a call runs in a row without waiting for the caller: beyond, it is looping (the
#: interpreter fails it to an agent) — so the checker refuses a flow with a longer run anywhere.
MAX_NODES_WITHOUT_INPUT = 400
#: What a flow's name may hold (it is written in the dialplan's AGI URL).
FLOW_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class FlowModel(BaseModel):
    """A flow file: its name, version, defaults and nodes."""

    model_config = ConfigDict(extra="forbid")

    flow: str = Field(pattern=FLOW_NAME)
    description: str = ""
    start: str
    defaults: Defaults = Defaults()
    nodes: dict[str, SerializeAsAny[NodeBase]] = Field(min_length=1)

    @field_validator("nodes", mode="before")
    @classmethod
    def _by_kind(cls, nodes: Any) -> Any:
        """Each node validated by its own kind's model."""
        if not isinstance(nodes, dict):
            return nodes
        return {node_id: KINDS.parse(raw) for node_id, raw in nodes.items()}

    def is_open(self, when: datetime) -> bool | None:
        """Whether the flow's opening hours (its first hours node) say open at ``when``; None
        when the flow has no hours node (it answers at any time)."""
        for node in self.nodes.values():
            if isinstance(node, HoursNode):
                return node.schedule().is_open(when)
        return None

    def targets(self, node_id: str) -> list[tuple[str, str]]:
        """(label, target) edges leaving ``node_id``, for validation and graphs."""
        return [(e.label, e.target) for e in self.nodes[node_id].edges(self.defaults)]
