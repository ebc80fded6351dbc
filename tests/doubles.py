"""Test doubles (named as such): resolvers and listeners written in Python for call-path tests."""

from __future__ import annotations

from pathlib import Path

from ivr.interfaces import Answer, Question


class StaticResolverDouble:
    """Maps request paths to flow objects from a fixed dict."""

    def __init__(self, flows: dict[str, object]) -> None:
        self.flows = flows

    def resolve(self, request_path: str):
        return self.flows.get(request_path)


class ScriptedListenerDouble:
    """A test double for the speech listener: answers each question from a script, and keeps the
    questions' prompts (the real listener plays them; this one does not)."""

    def offers_speech(self) -> bool:
        return True

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = list(answers)
        self.asked: list[list[str]] = []
        #: The same prompts as the files Asterisk would play (the slower renderings are in ``wav/lent/``).
        self.paths: list[list[str]] = []

    async def ask(self, channel, question: Question, typed_ahead: str | None = None) -> Answer:
        self.asked.append([Path(p).name for p in question.prompts])
        self.paths.append(list(question.prompts))
        return self.answers.pop(0) if self.answers else Answer("none")


def said(value: str, **details) -> Answer:
    return Answer("speech", value=value, text=value, confidence=0.9, details=details)
