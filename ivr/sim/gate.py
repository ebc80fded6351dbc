"""Holding simulated calls at a prompt until released: a call is where a test wants it, for as long
as the test needs, whatever the machine's speed.

A real caller can keep a call in one place for minutes (a long prompt, a slow answer); the
simulated Asterisk does it by not answering the IVR's command that plays the chosen prompt until
:meth:`PromptGate.release` is called. The IVR waits for Asterisk's reply as it would on a real line
(within its media timeout), so the call shows that node in ``/calls`` and the console meanwhile.
"""

from __future__ import annotations

import asyncio

__all__ = ["PromptGate"]


class PromptGate:
    """Holds every call that reaches ``prompt`` (a prompt id; its keypad variant counts too)."""

    def __init__(self, prompt: str) -> None:
        self.prompt = prompt
        #: Calls held now, and calls that reached the gate since it was made.
        self.held = 0
        self.reached = 0
        self._open = asyncio.Event()

    def matches(self, prompt: str) -> bool:
        """Whether ``prompt`` (or its keypad variant) is the one the gate holds at."""
        return prompt in (self.prompt, f"{self.prompt}_clavier")

    def release(self) -> None:
        """Let every held call go on, and every later one pass without stopping."""
        self._open.set()

    async def hold(self) -> None:
        """Called by the simulated Asterisk before it answers the command playing the prompt."""
        self.reached += 1
        if self._open.is_set():
            return
        self.held += 1
        try:
            await self._open.wait()
        finally:
            self.held -= 1
