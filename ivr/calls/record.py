"""Call records: one JSON line per call, written when the call ends.

Each record is flushed to the OS as soon as it is written, so a crash (even
``kill -9``) loses no call that had already finished. File numbers and caller
numbers are masked before they reach the record.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["CallRecord", "RecordStore", "JsonlRecordStore", "MemoryRecordStore"]


@dataclass
class CallRecord:
    """What is kept about one call."""

    call_id: str
    uniqueid: str
    request: str
    channel: str
    caller: str  # masked
    started_at: str
    ended_at: str = ""
    duration_ms: int = 0
    flow: str = ""
    flow_version: str = ""
    path: list[str] = field(default_factory=list)
    #: When each node of ``path`` was reached, in ms from the start of the call.
    path_ms: list[int] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    recognition: list[dict[str, Any]] = field(default_factory=list)
    #: Questions the IVR started asking (0: the caller left during the welcome, a "short abandon").
    questions: int = 0
    lookups: list[dict[str, Any]] = field(default_factory=list)
    outcome: str = ""
    queue: str = ""
    reason: str = ""
    rule: str = ""  # the routing rule that picked the queue
    expected_wait: int | None = None
    error: str = ""
    hangup_node: str = ""
    agi_commands: int = 0
    #: The SIP Call-ID of the caller's leg (from the dialplan), to find the call in SIP traces.
    sip_call_id: str = ""
    #: The IVR node that ran the call (several nodes share one database).
    node: str = ""
    #: The time of day a simulator gave the call (opening hours ran on it), when one did; a real call's is
    #: ``started_at``.
    simulated_at: str = ""
    #: The closure notice the caller heard (``id``, ``closes``), if any.
    notice: dict[str, Any] | None = None

    def to_json(self) -> str:
        """The record as one line of JSON (for the JSON Lines file)."""
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))


class RecordStore(Protocol):
    """Where ended calls' records go."""

    def write(self, record: CallRecord) -> object:
        """Keep the record (what a store returns of it is its own business)."""
        ...

    def close(self) -> None:
        """Release the store (the last records are written)."""


class JsonlRecordStore:
    """Appends records to a JSON Lines file (created with its folder if needed)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")
        # A process killed in the middle of a line leaves it unterminated: start on a fresh
        # line so the next record is not glued to it.
        if self.path.stat().st_size and not _ends_with_newline(self.path):
            self._file.write("\n")
            self._file.flush()
        self._lock = threading.Lock()

    def write(self, record: CallRecord) -> None:
        """Append the record as one line (flushed: a crash loses no finished call)."""
        line = record.to_json() + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._file.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


class MemoryRecordStore:
    """Keeps records in memory (embedded runs such as ``ivr demo`` read them back)."""

    def __init__(self) -> None:
        self.records: list[CallRecord] = []

    def write(self, record: CallRecord) -> None:
        """Keep the record in memory."""
        self.records.append(record)

    def close(self) -> None:
        """Nothing to release."""
        pass


class TeeRecordStore:
    """Writes every record to several stores."""

    def __init__(self, *stores: RecordStore) -> None:
        self.stores = stores

    def write(self, record: CallRecord) -> None:
        for store in self.stores:
            store.write(record)

    def close(self) -> None:
        for store in self.stores:
            store.close()
