"""A simulated Asterisk Manager Interface, over TCP, speaking the protocol as the captures show.

Banner ``Asterisk Call Manager/13.0.0``; ``Login`` (a wrong secret answers
``Authentication failed`` after about a second and closes); ``FullyBooted``
after login; ``Ping``; ``QueueSummary`` and ``QueueStatus`` lists (``EventList:
start`` … items with the ActionID … ``…Complete`` with ``ListItems``);
``Originate`` with ``Async: true`` (queued at once, ``OriginateResponse``
later); ``QueueAdd``; unknown actions; ``Logoff``. Tests script the queue load,
what originates do, and disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

__all__ = ["SimAmi", "SimQueue"]

EOL = "\r\n"


@dataclass
class SimQueue:
    name: str
    logged_in: int = 1
    available: int = 1
    callers: int = 0
    hold_time: int = 0
    talk_time: int = 0
    longest_hold: int = 0


def _message(fields: list[tuple[str, object]]) -> str:
    return "".join(f"{k}: {v}{EOL}" for k, v in fields) + EOL


@dataclass
class SimAmi:
    username: str = "ivr"
    secret: str = "ivrsecret"
    queues: dict[str, SimQueue] = field(default_factory=lambda: {
        "contractor": SimQueue("contractor"), "inhouse": SimQueue("inhouse")})
    #: What Originate does: "success", "failure" (no answer), or "ignore" (never answers).
    originate_result: str = "success"
    originate_delay: float = 0.05
    auth_delay: float = 1.0
    host: str = "127.0.0.1"
    port: int = 0
    originates: list[dict] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    logins: int = 0

    def __post_init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._refuse_until = 0.0

    @property
    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_conn, self.host, self.port)
        self.port = self.bound_port

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def drop(self, refuse_for: float = 0.0) -> None:
        """Close every manager connection (Asterisk restarting) and refuse new ones for a while."""
        self._refuse_until = time.monotonic() + refuse_for
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def set_load(self, queue: str, **figures: int) -> None:
        q = self.queues.setdefault(queue, SimQueue(queue))
        for k, v in figures.items():
            setattr(q, k, v)

    async def broadcast(self, fields: list[tuple[str, object]]) -> None:
        text = _message(fields)
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.write(text.encode())
                await w.drain()

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            writer.close()
            return
        writer.write(f"Asterisk Call Manager/13.0.0{EOL}".encode())
        authed = False
        try:
            while True:
                block = await self._read_block(reader)
                if block is None:
                    return
                action = _fields(block)
                name = action.get("action", "")
                aid = action.get("actionid", "")
                self.actions.append(name)
                base = [("ActionID", aid)] if aid else []
                lname = name.lower()
                if lname == "login":
                    if action.get("username") == self.username and action.get("secret") == self.secret:
                        authed = True
                        self.logins += 1
                        self._writers.add(writer)
                        writer.write((_message([("Response", "Success"), *base, ("Message", "Authentication accepted")])
                                      + _message([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", 7),
                                                  ("LastReload", 7), ("Status", "Fully Booted")])).encode())
                    else:
                        await asyncio.sleep(self.auth_delay)
                        writer.write(_message([("Response", "Error"), *base, ("Message", "Authentication failed")]).encode())
                        await writer.drain()
                        return
                elif not authed:
                    writer.write(_message([("Response", "Error"), *base, ("Message", "Permission denied")]).encode())
                elif lname == "ping":
                    writer.write(_message([("Response", "Success"), *base, ("Ping", "Pong"),
                                           ("Timestamp", f"{time.time():.6f}")]).encode())
                elif lname == "queuesummary":
                    writer.write(self._queue_summary(aid, action.get("queue")).encode())
                elif lname == "queuestatus":
                    writer.write(self._queue_status(aid, action.get("queue")).encode())
                elif lname == "originate":
                    self.originates.append(action)
                    writer.write(_message([("Response", "Success"), *base,
                                           ("Message", "Originate successfully queued")]).encode())
                    if self.originate_result != "ignore":
                        asyncio.get_running_loop().call_later(
                            self.originate_delay, lambda a=action, w=writer: asyncio.ensure_future(self._originate_done(a, w)))
                elif lname == "queueadd":
                    writer.write(_message([("Response", "Success"), *base, ("Message", "Added interface to queue")]).encode())
                elif lname == "logoff":
                    writer.write(_message([("Response", "Goodbye"), *base, ("Message", "Thanks for all the fish.")]).encode())
                    await writer.drain()
                    return
                else:
                    writer.write(_message([("Response", "Error"), *base, (
                        "Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.")]).encode())
                await writer.drain()
        except (ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _read_block(self, reader: asyncio.StreamReader) -> list[str] | None:
        lines: list[str] = []
        while True:
            raw = await reader.readline()
            if not raw:
                return None
            line = raw.decode(errors="replace").rstrip("\r\n")
            if line == "":
                if lines:
                    return lines
                continue
            lines.append(line)

    def _queue_summary(self, aid: str, only: str | None) -> str:
        items = [q for q in self.queues.values() if not only or q.name == only]
        out = _message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Queue summary will follow")])
        for q in sorted(items, key=lambda q: q.name):
            out += _message([("Event", "QueueSummary"), ("Queue", q.name), ("LoggedIn", q.logged_in),
                             ("Available", q.available), ("Callers", q.callers), ("HoldTime", q.hold_time),
                             ("TalkTime", q.talk_time), ("LongestHoldTime", q.longest_hold), ("ActionID", aid)])
        out += _message([("Event", "QueueSummaryComplete"), ("ActionID", aid), ("EventList", "Complete"),
                         ("ListItems", len(items))])
        return out

    def _queue_status(self, aid: str, only: str | None) -> str:
        items = [q for q in self.queues.values() if not only or q.name == only]
        out = _message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Queue status will follow")])
        count = 0
        for q in sorted(items, key=lambda q: q.name):
            out += _message([("Event", "QueueParams"), ("Queue", q.name), ("Max", 0), ("Strategy", "rrmemory"),
                             ("Calls", q.callers), ("Holdtime", q.hold_time), ("TalkTime", q.talk_time),
                             ("Completed", 0), ("Abandoned", 0), ("ServiceLevel", 0), ("ServicelevelPerf", "0.0"),
                             ("ServicelevelPerf2", "0.0"), ("Weight", 0), ("ActionID", aid)])
            count += 1
            for i in range(q.logged_in):
                busy = i >= q.available
                out += _message([("Event", "QueueMember"), ("Queue", q.name), ("Name", f"Local/agent{i}@agents/n"),
                                 ("Location", f"Local/agent{i}@agents/n"), ("StateInterface", f"Local/agent{i}@agents/n"),
                                 ("Membership", "static"), ("Penalty", 0), ("CallsTaken", 0), ("LastCall", 0),
                                 ("LastPause", 0), ("LoginTime", 1795429069), ("InCall", int(busy)),
                                 ("Status", 2 if busy else 1), ("Paused", 0), ("PausedReason", ""),
                                 ("Wrapuptime", 0), ("ActionID", aid)])
                count += 1
        out += _message([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                         ("ListItems", count)])
        return out

    async def _originate_done(self, action: dict, writer: asyncio.StreamWriter) -> None:
        ok = self.originate_result == "success"
        fields = [("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", action.get("actionid", "")),
                  ("Response", "Success" if ok else "Failure"), ("Channel", action.get("channel", "")),
                  ("Context", action.get("context", "")), ("Exten", action.get("exten", "")),
                  ("Reason", 4 if ok else 3), ("Uniqueid", f"{time.time():.0f}.1" if ok else "<null>"),
                  ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]
        with contextlib.suppress(Exception):
            writer.write(_message(fields).encode())
            await writer.drain()


def _fields(lines: list[str]) -> dict:
    out: dict = {}
    for line in lines:
        key, _, value = line.partition(":")
        key = key.strip().lower()
        value = value.strip()
        if key == "variable":
            out.setdefault("variable", []).append(value)
        else:
            out[key] = value
    return out
