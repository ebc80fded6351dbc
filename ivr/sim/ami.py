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
from typing import Any

from ..edges.ami.protocol import EOL, AmiProtocolError, Message, MessageReader, encode_message

__all__ = ["SimAmi", "SimQueue"]


@dataclass
class SimQueue:
    """A queue of the simulated manager: its agents and callers."""

    name: str
    logged_in: int = 1
    available: int = 1
    callers: int = 0
    hold_time: int = 0
    talk_time: int = 0
    longest_hold: int = 0


@dataclass
class SimAmi:
    """A simulated Asterisk manager (test double): logins, queue state, originates."""

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
    originates: list[dict[str, Any]] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    logins: int = 0

    def __post_init__(self) -> None:
        #: Callers in each queue now, as QueueStatus lists them (QueueEntry): those a test's emitted
        #: QueueCallerJoin put there and no QueueCallerLeave took away.
        self.entries: dict[str, list[dict[str, str]]] = {}
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._refuse_until = 0.0

    @property
    def bound_port(self) -> int:
        """The port it listens on."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        """Listen."""
        self._server = await asyncio.start_server(self._on_conn, self.host, self.port)
        self.port = self.bound_port

    async def stop(self) -> None:
        """Drop the connections and stop listening."""
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

    def emit(self, fields: list[tuple[str, object]], *, listed: bool = True) -> None:
        """Send an event (fields in order; a name may repeat, as ``ChanVariable`` does) to every
        logged-in manager connection. A QueueCallerJoin puts its caller in QueueStatus's list, unless
        ``listed`` is False: an event Asterisk never made (one a caller's field forged)."""
        data = encode_message(fields)
        for w in list(self._writers):
            w.write(data)
        if not listed:
            return
        event = {str(k): str(v) for k, v in fields}
        queue = self.entries.setdefault(event.get("Queue", ""), [])
        if event.get("Event") == "QueueCallerJoin":
            queue.append(event)
        elif event.get("Event") == "QueueCallerLeave":
            queue[:] = [e for e in queue if e.get("Uniqueid") != event.get("Uniqueid")]

    def set_load(self, queue: str, **figures: int) -> None:
        """Set a queue's figures (``logged_in``, ``available``, ``callers``, ``holdtime``…)."""
        q = self.queues.setdefault(queue, SimQueue(queue))
        for k, v in figures.items():
            setattr(q, k, v)

    async def _on_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if time.monotonic() < self._refuse_until:
            writer.close()
            return
        writer.write(f"Asterisk Call Manager/13.0.0{EOL}".encode())
        messages = MessageReader()
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                for action in messages.feed(data):
                    if not await self._answer(action, writer):
                        return
                    await writer.drain()
        except (ConnectionError, OSError, AmiProtocolError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, action: Message, writer: asyncio.StreamWriter) -> bool:
        """Answer one action as Asterisk does; False when the connection must end."""
        name = action.get("Action") or ""
        aid = action.get("ActionID") or ""
        self.actions.append(name)
        base = [("ActionID", aid)] if aid else []
        lname = name.lower()
        if lname == "login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                self.logins += 1
                self._writers.add(writer)
                writer.write(encode_message([("Response", "Success"), *base, ("Message", "Authentication accepted")])
                             + encode_message([("Event", "FullyBooted"), ("Privilege", "system,all"), ("Uptime", 7),
                                               ("LastReload", 7), ("Status", "Fully Booted")]))
                return True
            await asyncio.sleep(self.auth_delay)
            writer.write(encode_message([("Response", "Error"), *base, ("Message", "Authentication failed")]))
            await writer.drain()
            return False
        if writer not in self._writers:
            writer.write(encode_message([("Response", "Error"), *base, ("Message", "Permission denied")]))
        elif lname == "ping":
            writer.write(encode_message([("Response", "Success"), *base, ("Ping", "Pong"),
                                         ("Timestamp", f"{time.time():.6f}")]))
        elif lname == "queuesummary":
            writer.write(self._queue_summary(aid, action.get("Queue")))
        elif lname == "queuestatus":
            writer.write(self._queue_status(aid, action.get("Queue")))
        elif lname == "originate":
            fields: dict[str, Any] = {k.lower(): v for k, v in reversed(action.fields)}
            fields["variable"] = action.all("Variable")
            self.originates.append(fields)
            writer.write(encode_message([("Response", "Success"), *base, ("Message", "Originate successfully queued")]))
            if self.originate_result != "ignore":
                asyncio.get_running_loop().call_later(
                    self.originate_delay, self._originate_later, fields, writer)
        elif lname == "queueadd":
            writer.write(encode_message([("Response", "Success"), *base, ("Message", "Added interface to queue")]))
        elif lname == "logoff":
            writer.write(encode_message([("Response", "Goodbye"), *base, ("Message", "Thanks for all the fish.")]))
            await writer.drain()
            return False
        else:
            writer.write(encode_message([("Response", "Error"), *base, (
                "Message", f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.")]))
        return True

    def _queue_summary(self, aid: str, only: str | None) -> bytes:
        items = [q for q in self.queues.values() if not only or q.name == only]
        out = encode_message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Queue summary will follow")])
        for q in sorted(items, key=lambda q: q.name):
            out += encode_message([("Event", "QueueSummary"), ("Queue", q.name), ("LoggedIn", q.logged_in),
                             ("Available", q.available), ("Callers", q.callers), ("HoldTime", q.hold_time),
                             ("TalkTime", q.talk_time), ("LongestHoldTime", q.longest_hold), ("ActionID", aid)])
        out += encode_message([("Event", "QueueSummaryComplete"), ("ActionID", aid), ("EventList", "Complete"),
                         ("ListItems", len(items))])
        return out

    def _queue_status(self, aid: str, only: str | None) -> bytes:
        items = [q for q in self.queues.values() if not only or q.name == only]
        out = encode_message([("Response", "Success"), ("ActionID", aid), ("EventList", "start"),
                        ("Message", "Queue status will follow")])
        count = 0
        for q in sorted(items, key=lambda q: q.name):
            out += encode_message([("Event", "QueueParams"), ("Queue", q.name), ("Max", 0), ("Strategy", "rrmemory"),
                             ("Calls", q.callers), ("Holdtime", q.hold_time), ("TalkTime", q.talk_time),
                             ("Completed", 0), ("Abandoned", 0), ("ServiceLevel", 0), ("ServicelevelPerf", "0.0"),
                             ("ServicelevelPerf2", "0.0"), ("Weight", 0), ("ActionID", aid)])
            count += 1
            for i in range(q.logged_in):
                busy = i >= q.available
                out += encode_message([("Event", "QueueMember"), ("Queue", q.name), ("Name", f"Local/agent{i}@agents/n"),
                                 ("Location", f"Local/agent{i}@agents/n"), ("StateInterface", f"Local/agent{i}@agents/n"),
                                 ("Membership", "static"), ("Penalty", 0), ("CallsTaken", 0), ("LastCall", 0),
                                 ("LastPause", 0), ("LoginTime", 1795429069), ("InCall", int(busy)),
                                 ("Status", 2 if busy else 1), ("Paused", 0), ("PausedReason", ""),
                                 ("Wrapuptime", 0), ("ActionID", aid)])
                count += 1
            for position, entry in enumerate(self.entries.get(q.name, []), start=1):  # as Asterisk 22 lists a caller
                out += encode_message([("Event", "QueueEntry"), ("Queue", q.name), ("Position", position),
                                       ("Channel", entry.get("Channel", "")), ("Uniqueid", entry.get("Uniqueid", "")),
                                       ("CallerIDNum", entry.get("CallerIDNum", "unknown")), ("CallerIDName", "unknown"),
                                       ("ConnectedLineNum", "unknown"), ("ConnectedLineName", "unknown"), ("Wait", 0),
                                       ("Priority", 0), ("ActionID", aid)])
                count += 1
        out += encode_message([("Event", "QueueStatusComplete"), ("ActionID", aid), ("EventList", "Complete"),
                         ("ListItems", count)])
        return out

    def _originate_later(self, action: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        asyncio.ensure_future(self._originate_done(action, writer))

    async def _originate_done(self, action: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        ok = self.originate_result == "success"
        fields = [("Event", "OriginateResponse"), ("Privilege", "call,all"), ("ActionID", action.get("actionid", "")),
                  ("Response", "Success" if ok else "Failure"), ("Channel", action.get("channel", "")),
                  ("Context", action.get("context", "")), ("Exten", action.get("exten", "")),
                  ("Reason", 4 if ok else 3), ("Uniqueid", f"{time.time():.0f}.1" if ok else "<null>"),
                  ("CallerIDNum", "<unknown>"), ("CallerIDName", "<unknown>")]
        with contextlib.suppress(Exception):
            writer.write(encode_message(fields))
            await writer.drain()

