"""A FastAGI relay between Asterisk and ``ivr serve`` that watches the conversation from outside.

It times every IVR turn (Asterisk's reply → the IVR's next command), the figure the simulator
reports, now on a real Asterisk; and it can keep the bytes of each session as a capture in the
format of ``../shared/asterisk`` (one JSON line per chunk: ``t``, ``dir``, ``data``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from pathlib import Path
from typing import Any

from ..waiting import DEADLINE

__all__ = ["AgiTap"]

#: Bytes read per chunk; a relay never holds more than this per direction.
_CHUNK = 65536
#: Chunks kept per captured session.
_MAX_EVENTS = 5000


class AgiTap:
    """Listens where Asterisk's dialplan sends FastAGI and relays each session to the IVR."""

    def __init__(self, target_host: str, target_port: int, *, keep_sessions: int = 0,
                 max_turns: int = 1_000_000) -> None:
        self.target = (target_host, target_port)
        #: Seconds from the end of an Asterisk reply to the IVR's next command (bounded).
        self.turns: deque[float] = deque(maxlen=max_turns)
        #: The last ``keep_sessions`` sessions, as capture events (bounded).
        self.sessions: deque[list[dict[str, Any]]] = deque(maxlen=keep_sessions)
        self._server: asyncio.base_events.Server | None = None
        self._relays: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        """The port the tap listens on."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen for FastAGI connections (the port the system chooses when 0)."""
        self._server = await asyncio.start_server(self._session, host, port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
        for task in list(self._relays):
            task.cancel()

    async def _session(self, ast_reader: asyncio.StreamReader, ast_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._relays.add(task)
        try:
            ivr_reader, ivr_writer = await asyncio.open_connection(*self.target)
        except OSError:
            ast_writer.close()
            return
        started = time.monotonic()
        events: list[dict[str, Any]] | None = [] if self.sessions.maxlen else None
        if events is not None:
            self.sessions.append(events)
        last: dict[str, Any] = {"dir": "", "t": 0.0}

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str) -> None:
            try:
                while data := await reader.read(_CHUNK):
                    now = time.monotonic()
                    if direction == "ivr->asterisk" and last["dir"] == "asterisk->ivr":
                        self.turns.append(now - last["t"])
                    last.update(dir=direction, t=now)
                    if events is not None and len(events) < _MAX_EVENTS:
                        _keep(events, round(now - started, 3), direction, data.decode("utf-8", errors="replace"))
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        try:
            await asyncio.gather(pump(ast_reader, ivr_writer, "asterisk->ivr"),
                                 pump(ivr_reader, ast_writer, "ivr->asterisk"))
        finally:
            if task is not None:
                self._relays.discard(task)

    def write_capture(self, path: Path, session: list[dict[str, Any]]) -> None:
        """A kept session as a capture file (JSON lines)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in session), encoding="utf-8")


def _keep(events: list[dict[str, Any]], t: float, direction: str, text: str) -> None:
    """Add a chunk to a capture, joining a message TCP delivered in pieces (a line cut in two, or the
    environment block, which ends with an empty line) so each event is whole, as in the captures."""
    if events and events[-1]["dir"] == direction:
        last = events[-1]["data"]
        if not last.endswith("\n") or (len(events) == 1 and not last.endswith("\n\n")):
            events[-1]["data"] = last + text
            return
    events.append({"t": t, "dir": direction, "data": text})


class TapThread:
    """An :class:`AgiTap` on its own event loop in a daemon thread, for synchronous callers (the lab)."""

    def __init__(self, target_host: str, target_port: int, **kw: Any) -> None:
        import threading

        self.tap = AgiTap(target_host, target_port, **kw)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="agi-tap", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.tap.start())
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> int:
        """Start listening; returns the port Asterisk should use for FastAGI."""
        self._thread.start()
        self._ready.wait(DEADLINE)
        return self.tap.port

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.tap.stop(), self._loop).result(DEADLINE)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
