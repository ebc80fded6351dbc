"""Shared test helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Generated examples are the same on every run (derandomize), with no time limit per example and no
# "too slow to generate" verdict: what a property test finds does not depend on the machine's load or
# on luck. `pytest --hypothesis-profile=explore` searches new examples, many more of them.
settings.register_profile("repeatable", derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("repeatable")

ROOT = Path(__file__).resolve().parent.parent
#: Captures from a real Asterisk (a copy of ../shared/asterisk kept with the tests).
CAPTURES = Path(os.environ.get("IVR_ASTERISK_CAPTURES", Path(__file__).resolve().parent / "captures"))


def load_capture(folder: str, name: str = "agi.jsonl") -> list[dict]:
    path = CAPTURES / folder / name
    if not path.exists():
        pytest.skip(f"Asterisk captures not found at {path} (set IVR_ASTERISK_CAPTURES)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(autouse=True)
def _keypad_unless_asked(monkeypatch):
    """Flow tests run keypad-only whatever models the machine has; speech tests turn speech on."""
    monkeypatch.setenv("IVR_SPEECH", "false")


@pytest.fixture(autouse=True)
def _quiet_logs():
    from ivr.logs import configure_logging

    configure_logging("json", "critical", force=True)
    yield
