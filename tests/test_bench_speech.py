"""``ivr bench speech --capacity``: the search for the most streams that keep the target."""

from __future__ import annotations

from typing import Any

from ivr.bench.speech import SpeechBench


class LevelsDouble(SpeechBench):
    """A test double for the bench: a level's p95 grows with its streams, past a knee at ``knee``."""

    def __init__(self, knee: int) -> None:
        self.knee = knee
        self.asked: list[int] = []

    async def run(self, streams: int) -> dict[str, Any]:
        self.asked.append(streams)
        return {"streams": streams, "latency_ms_p95": 200.0 if streams <= self.knee else 900.0}


async def test_the_capacity_is_the_last_level_within_the_target_found_in_few_runs():
    bench = LevelsDouble(knee=47)
    found = await bench.capacity(300.0, start=30, step=10, progress=lambda message: None)
    assert found["capacity_streams"] <= 47 < found["first_missed"]
    assert found["first_missed"] - found["capacity_streams"] <= 2
    assert len(bench.asked) <= 8 and [r["streams"] for r in found["runs"]] == sorted(set(bench.asked))


async def test_a_node_that_misses_at_the_first_level_searches_below_it():
    bench = LevelsDouble(knee=12)
    found = await bench.capacity(300.0, start=30, step=10, progress=lambda message: None)
    assert found["capacity_streams"] <= 12 < found["first_missed"] and found["first_missed"] - found["capacity_streams"] <= 2


async def test_no_level_kept_is_a_capacity_of_zero():
    bench = LevelsDouble(knee=0)
    found = await bench.capacity(300.0, start=10, step=10, progress=lambda message: None)
    assert found["capacity_streams"] == 0 and found["first_missed"] <= 2
