"""What flows run with: prompts, lookups, routing, input, and what the line's profile adds."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..calls.call import Call
from ..interfaces import CallbackBook, Listener, LookupService, PromptPaths, Router, SlotSpec, SpokenText
from ..notices import Notice
from .lookup_budget import LookupBudget
from .template import FILTERS, Filters

__all__ = ["EngineServices", "RunningFlow"]


class RunningFlow(Protocol):
    """A loaded flow another flow can run as a subflow."""

    async def walk_from_start(self, call: Call, prefix: str) -> None:
        """Run the flow from its start node; node ids are recorded with ``prefix``."""
        ...


@dataclass
class EngineServices:
    """What nodes use beyond the call: prompts, voice, lookups, routing, listening, other flows."""

    prompts: PromptPaths
    spoken: SpokenText
    router: Router
    listener: Listener
    #: Lookup services by the name flows use (``service: tracking``).
    lookups: dict[str, LookupService] = field(default_factory=dict)
    callbacks: CallbackBook | None = None
    #: The slots questions may ask for, the template filters and value checks flows may name.
    slots: Mapping[str, SlotSpec] = field(default_factory=dict)
    filters: Filters = field(default_factory=lambda: dict(FILTERS))
    validators: Mapping[str, Callable[[str], bool]] = field(default_factory=dict)
    #: Lookups per caller number (None: unlimited).
    lookup_budget: LookupBudget | None = None
    #: The running version of another flow (subflow nodes); set by the flow registry.
    flows: Callable[[str], RunningFlow | None] = lambda name: None
    #: The closure notice callers hear at a moment (``notice`` nodes), or None.
    notice: Callable[[datetime], Notice | None] = lambda now: None
