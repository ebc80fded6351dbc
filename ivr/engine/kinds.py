"""The node kinds flows may use: one registration line per kind (README "Adding a node kind").

The checker and the interpreter know kinds only through this registry: a kind's model validates its
YAML, and its methods (:class:`~ivr.engine.nodes.base.NodeBase`) answer the rest.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .nodes.base import NodeBase
from .nodes.branch import BranchNode
from .nodes.collect import CollectNode
from .nodes.confirm import ConfirmNode
from .nodes.hangup import HangupNode
from .nodes.hours import HoursNode
from .nodes.lookup import LookupNode
from .nodes.menu import MenuNode
from .nodes.notice import NoticeNode
from .nodes.play import PlayNode
from .nodes.returns import ReturnNode
from .nodes.route import RouteNode
from .nodes.say import SayNode
from .nodes.setvars import SetNode
from .nodes.subflow import SubflowNode

__all__ = ["KINDS", "NodeKinds"]


class NodeKinds:
    """Node kinds by the name flows write (``kind: menu``)."""

    def __init__(self) -> None:
        self._models: dict[str, type[NodeBase]] = {}

    def register(self, model: type[NodeBase]) -> type[NodeBase]:
        """Add a kind: its model's ``kind`` field is a ``Literal`` of the name flows write."""
        (name,) = typing.get_args(model.model_fields["kind"].annotation)
        if name in self._models:
            raise ValueError(f"node kind {name!r} is already registered ({self._models[name].__name__})")
        self._models[name] = model
        return model

    @contextmanager
    def registered(self, model: type[NodeBase]) -> Iterator[type[NodeBase]]:
        """A kind for a while (tests): registered, then removed."""
        self.register(model)
        try:
            yield model
        finally:
            (name,) = typing.get_args(model.model_fields["kind"].annotation)
            del self._models[name]

    def names(self) -> tuple[str, ...]:
        """The names of the registered kinds."""
        return tuple(self._models)

    def model(self, name: str) -> type[NodeBase] | None:
        """The model of the kind ``name``, or None if no kind has that name."""
        return self._models.get(name)

    def parse(self, raw: Any) -> NodeBase:
        """A node from its YAML mapping (its kind must be registered)."""
        if isinstance(raw, NodeBase):
            return raw
        kind = raw.get("kind") if isinstance(raw, dict) else None
        model = self._models.get(str(kind))
        if model is None:
            raise ValueError(f"unknown node kind {kind!r} (one of {', '.join(self._models)})")
        return model.model_validate(raw)

    def field_names(self) -> set[str]:
        """Every field name some kind (or a model inside one) takes, for "did you mean" on a misspelt one."""
        names: set[str] = set()
        todo: list[Any] = list(self._models.values())
        seen: set[Any] = set()
        while todo:
            model = todo.pop()
            if model in seen:
                continue
            seen.add(model)
            for name, info in model.model_fields.items():
                names.add(name)
                todo += [t for t in _models_in(info.annotation)]
        return names


def _models_in(annotation: Any) -> list[type]:
    """The pydantic models an annotation holds (``list[Choice]``, ``ConfirmSpec | None``…)."""
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


KINDS = NodeKinds()
KINDS.register(PlayNode)
KINDS.register(MenuNode)
KINDS.register(NoticeNode)
KINDS.register(CollectNode)
KINDS.register(ConfirmNode)
KINDS.register(LookupNode)
KINDS.register(SayNode)
KINDS.register(SetNode)
KINDS.register(BranchNode)
KINDS.register(HoursNode)
KINDS.register(RouteNode)
KINDS.register(HangupNode)
KINDS.register(SubflowNode)
KINDS.register(ReturnNode)
