"""AMI wire format: messages as ``Key: value`` lines ended by an empty line, ``\\r\\n`` everywhere.

No I/O here. The product's AMI client is panoramisk (which has its own reader); this codec is
Asterisk's side of the conversation for the simulator, and the reader tests use to follow a real
Asterisk's manager. Bounded: a peer sending an endless line or message is an error, not a memory leak.

Seen on the wire (``../shared/asterisk/commands/ami.jsonl``)::

    Asterisk Call Manager/11.0.0          the banner, one line, no empty line after it
    Action: Login                         an action (client → Asterisk)
    Username: ivr
    Secret: …
                                          the end of the message
    Response: Success                     a response, or an ``Event: …``
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["EOL", "BANNER_PREFIX", "Message", "AmiProtocolError", "encode_message", "MessageReader", "distrust",
           "channel_variables"]

EOL = "\r\n"
BANNER_PREFIX = "Asterisk Call Manager/"


class AmiProtocolError(ValueError):
    """The peer sent something that is not AMI, or more than the bounds allow."""


@dataclass(frozen=True)
class Message:
    """One AMI message: its fields in order (a key may repeat, as ``Variable`` does in Originate)."""

    fields: tuple[tuple[str, str], ...]

    def get(self, key: str, default: str | None = None) -> str | None:
        """The first value of ``key`` (AMI keys are case-insensitive)."""
        wanted = key.lower()
        return next((v for k, v in self.fields if k.lower() == wanted), default)

    def all(self, key: str) -> list[str]:
        """Every value of ``key``, in order."""
        wanted = key.lower()
        return [v for k, v in self.fields if k.lower() == wanted]


def encode_message(fields: Iterable[tuple[str, object]]) -> bytes:
    """A message on the wire. Values cannot hold line breaks (they would start a new field)."""
    lines = []
    for key, value in fields:
        text = str(value)
        if "\r" in text or "\n" in text or "\r" in key or "\n" in key or ":" in key:
            raise ValueError(f"AMI field {key!r} cannot hold a line break (or a colon in its name)")
        lines.append(f"{key}: {text}{EOL}")
    return ("".join(lines) + EOL).encode("utf-8")


class MessageReader:
    """Turns bytes from the socket into messages, however they were cut into reads.

    With ``banner=True`` (a client reading Asterisk) the first line is the banner, kept in
    :attr:`banner`. Empty lines between messages are ignored.
    """

    def __init__(self, *, banner: bool = False, max_line: int = 8192, max_fields: int = 512) -> None:
        self.banner: str | None = None
        self._want_banner = banner
        self.max_line = max_line
        self.max_fields = max_fields
        self._partial = bytearray()
        self._fields: list[tuple[str, str]] = []

    def feed(self, data: bytes) -> list[Message]:
        """Take bytes from the socket; the messages they complete."""
        self._partial += data
        out: list[Message] = []
        while True:
            end = self._partial.find(b"\n")
            if end < 0:
                if len(self._partial) > self.max_line:
                    raise AmiProtocolError(f"AMI line longer than {self.max_line} bytes")
                return out
            raw = bytes(self._partial[:end])
            del self._partial[:end + 1]
            if len(raw) > self.max_line:
                raise AmiProtocolError(f"AMI line longer than {self.max_line} bytes")
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            if self._want_banner:
                self._want_banner = False
                if line.startswith(BANNER_PREFIX):
                    self.banner = line
                    continue
            if line == "":
                if self._fields:
                    out.append(Message(tuple(self._fields)))
                    self._fields = []
                continue
            key, colon, value = line.partition(":")
            if not colon:
                raise AmiProtocolError(f"not an AMI field line: {line[:60]!r}")
            if len(self._fields) >= self.max_fields:
                raise AmiProtocolError(f"AMI message with more than {self.max_fields} fields")
            self._fields.append((key.strip(), value.strip()))


#: Asterisk's channel ids: seconds since the epoch, a dot, a sequence number (``<null>`` when there is no channel,
#: as in a failed originate's response).
_UNIQUEID = re.compile(r"\d{1,15}\.\d{1,10}")
_ID_FIELDS = ("Uniqueid", "Linkedid", "DestUniqueid", "DestLinkedid")
#: Counts and positions the IVR reads; a queue with more waiting callers than this is not a real one.
_COUNT_FIELDS = ("Count", "Position", "Calls", "Available", "LoggedIn", "Callers")
_MAX_COUNT = 100_000
#: The node names the IVR writes in ``IVR_NODE`` (``Settings.node_name``).
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def distrust(event: Mapping[str, object], queues: Container[str]) -> str | None:
    """Why an event cannot be trusted, or None.

    A caller's number or a dialled extension reaches Asterisk's events unescaped: one holding a line
    break adds fields, or whole events, that Asterisk never sent (the audit set a queue's waiting count
    to 250 that way). What the IVR acts on must look like what Asterisk writes: no control character
    anywhere, a queue Asterisk itself listed (``queues``), channel ids of Asterisk's form, counts that
    are numbers of a real size, and node names the IVR could have written.
    """
    for key, value in event.items():
        for text in (key, *(value if isinstance(value, (list, tuple)) else [value])):
            if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in str(text)):
                return f"a control character in {key}"
    queue = event.get("Queue")
    if queue is not None and str(queue) not in queues:
        return f"queue {str(queue)[:40]!r} is not one Asterisk listed"
    for key in _ID_FIELDS:
        value = event.get(key)
        if value is not None and str(value) not in ("", "<null>") and not _UNIQUEID.fullmatch(str(value)):
            return f"{key} {str(value)[:40]!r} is not an Asterisk channel id"
    for key in _COUNT_FIELDS:
        value = event.get(key)
        if value is not None and not (str(value).isdigit() and int(str(value)) <= _MAX_COUNT):
            return f"{key} {str(value)[:20]!r} is not a count"
    for item in _as_list(event.get("ChanVariable")):
        name, _, value = str(item).partition("=")
        if name == "IVR_NODE" and value and not _NODE_NAME.fullmatch(value):
            return f"IVR_NODE {value[:40]!r} is not a node name"
    return None


def _as_list(value: object) -> list[object]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def channel_variables(event: Mapping[str, object]) -> dict[str, str]:
    """The ``ChanVariable`` fields of an event (``NAME=value``, one or several, as manager.conf's
    ``channelvars`` lists them) as a dict."""
    raw = event.get("ChanVariable") or []
    items = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, (list, tuple)) else []
    return dict(str(item).split("=", 1) for item in items if "=" in str(item))
