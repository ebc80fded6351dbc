"""Test doubles (named as such): flows and resolvers written in Python for call-path tests."""

from __future__ import annotations


class StaticResolverDouble:
    """Maps request paths to flow objects from a fixed dict."""

    def __init__(self, flows: dict[str, object]) -> None:
        self.flows = flows

    def resolve(self, request_path: str):
        return self.flows.get(request_path)
