"""The server's parts stop last-started first, and every one stops even when another fails."""

from __future__ import annotations

import io
import json

from ivr.logs import configure_logging
from ivr.server.parts import PartStack


async def test_every_part_stops_in_reverse_order_even_when_one_fails():
    stopped: list[str] = []

    async def store() -> None:
        stopped.append("store")

    def broken() -> None:
        stopped.append("ami")
        raise ConnectionResetError("peer gone")

    parts = PartStack()
    parts.started("store", store)
    parts.started("ami", broken)
    parts.started("agi", lambda: stopped.append("agi"))
    out = io.StringIO()
    configure_logging("json", "info", stream=out, force=True)
    failed = await parts.stop_all()
    logs = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert stopped == ["agi", "ami", "store"] and failed == ["ami"] and parts.names == []
    [entry] = [e for e in logs if e["event"] == "part_stop_failed"]
    assert entry["part"] == "ami" and "peer gone" in entry["error"]
