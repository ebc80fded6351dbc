"""What a node sees of the flow running it (the interpreter implements it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ...calls.call import Call
    from ..defaults import Defaults
    from ..questions import QuestionLoop
    from ..services import EngineServices

__all__ = ["Runner"]


class Runner(Protocol):
    """The running flow version, as its nodes use it."""

    services: EngineServices
    questions: QuestionLoop
    defaults: Defaults

    def prompt_path(self, prompt_id: str, call: Call) -> str:
        """The file Asterisk plays for a catalog prompt, at the pace the caller asked for."""
        ...

    async def run_subflow(self, flow: str, call: Call) -> None:
        """Run another loaded flow from its start, on this call."""
        ...
