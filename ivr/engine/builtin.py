"""A minimal built-in keypad flow, used until YAML flows are loaded.

It answers, welcomes the caller, asks for the title type by keypad and hands
the caller to a queue. It runs behind the same :class:`~ivr.calls.call.Flow`
interface as YAML flows.
"""

from __future__ import annotations

from ..calls.call import Call
from ..calls.outcomes import Outcome
from ..tts.catalog import Catalog

__all__ = ["KeypadMenuFlow", "StaticResolver"]

TITLES = {"1": "carte_grise", "2": "permis", "3": "cni", "4": "passeport"}


class KeypadMenuFlow:
    name = "ants-3400"
    version = "builtin-1"

    def __init__(self, catalog: Catalog, *, attempts: int = 3, timeout_ms: int = 5000) -> None:
        self.catalog = catalog
        self.attempts = attempts
        self.timeout_ms = timeout_ms

    def _p(self, prompt_id: str) -> str:
        return self.catalog.playback_path(prompt_id)

    async def run(self, call: Call) -> None:
        s = call.session
        call.visit("answer")
        await s.answer()
        call.visit("welcome")
        await s.stream_file(self._p("bienvenue"), "")
        for attempt in range(1, self.attempts + 1):
            call.visit("title_menu")
            entry = await s.get_data(self._p("menu_titre"), self.timeout_ms, 1)
            if entry.digits in TITLES:
                title = TITLES[entry.digits]
                call.record.slots["title_type"] = title
                call.visit("transfer")
                await s.stream_file(self._p("transfert"), "")
                await call.route("contractor", "title_selected", title=title)
                return
            if entry.digits == "0":
                call.visit("transfer")
                await s.stream_file(self._p("transfert"), "")
                await call.route("contractor", "agent_requested")
                return
            await s.stream_file(self._p("non_entendu" if not entry.digits else "non_compris"), "")
        call.visit("too_many_attempts")
        await s.stream_file(self._p("trop_essais"), "")
        await call.route("contractor", "no_input", outcome=Outcome.ROUTED_CONTRACTOR)


class StaticResolver:
    """Maps request paths to flows from a fixed dict."""

    def __init__(self, flows: dict[str, object]) -> None:
        self.flows = flows

    def resolve(self, request_path: str):
        return self.flows.get(request_path)
