"""What a version, an audit entry and a console user are (no I/O, nothing heavy imported)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["LineVersion", "content_hash", "AuditEntry", "AuditAction", "Role", "User", "Session", "audit_csv",
           "checked_user_name", "checked_comment", "SOURCE_NAMES"]

#: The files a version holds, by the name it keeps them under: the flows, the routing rules, the catalog.
SOURCE_NAMES = re.compile(r"flows/[A-Za-z0-9_.-]{1,80}\.ya?ml|rules\.yaml|catalog\.yaml")
_USER = re.compile(r"[a-z][a-z0-9._-]{1,31}")
#: Longest comment kept with a version.
MAX_COMMENT = 500


def content_hash(texts: Mapping[str, str]) -> str:
    """The configuration's identity: a hash of every file's name and text (12 hex digits). Two nodes that
    serve the same hash serve the same configuration."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(f"{name}\0{texts[name]}\0".encode())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class LineVersion:
    """A configuration that went live: its number (the highest is live), its files, who and why."""

    number: int
    hash: str
    author: str
    #: When it was published (seconds since the epoch).
    created_at: float
    comment: str
    #: ``publish``, or ``rollback`` (then ``restores`` is the version whose texts it holds again).
    action: str
    restores: int | None = None
    #: The files by name (``flows/ants-3400.yaml``, ``rules.yaml``, ``catalog.yaml``); empty when only the
    #: list was asked for.
    texts: Mapping[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The version without its files (lists, JSON)."""
        return {"number": self.number, "hash": self.hash, "author": self.author, "created_at": self.created_at,
                "comment": self.comment, "action": self.action, "restores": self.restores,
                "files": sorted(self.texts)}


class AuditAction(StrEnum):
    """What the audit trail records."""

    PUBLISH = "publish"
    PUBLISH_REJECTED = "publish_rejected"
    ROLLBACK = "rollback"
    ROLLBACK_REJECTED = "rollback_rejected"
    #: A node began serving a version (or could not: ``applied_rejected``).
    APPLIED = "applied"
    APPLIED_REJECTED = "applied_rejected"
    RELOAD = "reload"
    RELOAD_REJECTED = "reload_rejected"
    PREVIEW = "preview"
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGN_OUT = "sign_out"
    NOTICE_ON = "notice_on"
    NOTICE_OFF = "notice_off"
    USER_CHANGED = "user_changed"
    #: Someone tried what their role does not allow (a publish by an editor).
    FORBIDDEN = "forbidden"


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit trail."""

    id: int
    #: Seconds since the epoch.
    at: float
    #: Who: a console user, a login on the machine (CLI), or ``node <name>`` for what a node did itself.
    actor: str
    action: str
    #: What it was done to: ``version 7``, ``notice 3``, ``user alice``.
    target: str = ""
    #: From where: the browser's address, ``cli@host``, ``node``.
    origin: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON shows it."""
        return {"id": self.id, "at": self.at, "actor": self.actor, "action": self.action, "target": self.target,
                "origin": self.origin, "detail": dict(self.detail)}


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    """The entries as CSV (UTC times, ISO 8601), for the agency's records."""
    from datetime import datetime, timezone

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "at_utc", "actor", "action", "target", "origin", "detail"])
    for e in entries:
        when = datetime.fromtimestamp(e.at, timezone.utc).isoformat(timespec="seconds")
        writer.writerow([e.id, when, *(_cell(v) for v in (e.actor, e.action, e.target, e.origin)),
                         json.dumps(dict(e.detail), ensure_ascii=False, sort_keys=True)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run: one starting like a formula (``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return) gets a leading apostrophe. A failed sign-in's name is whatever was typed."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class Role(StrEnum):
    """What a console user may do; each role may do what the ones before it may."""

    #: The figures and the calls.
    VIEWER = "viewer"
    #: Drafts and their preview against recorded calls.
    EDITOR = "editor"
    #: Publish, roll back, closure notices, reloads.
    PUBLISHER = "publisher"

    def allows(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may."""
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class User:
    """A console user (the password hash never leaves the store and the access module)."""

    name: str
    role: Role
    password_hash: str = field(repr=False, default="")
    failures: int = 0
    #: Until when sign-ins are refused after too many failures (seconds since the epoch), or None.
    locked_until: float | None = None


@dataclass(frozen=True)
class Session:
    """A signed-in browser: its user, its form token, when it ends (seconds since the epoch)."""

    user: User
    csrf: str
    expires_at: float


def checked_user_name(name: str) -> str:
    """A user name as the console and the audit show it: 2–32 lowercase letters, digits, ``._-``."""
    if not _USER.fullmatch(name):
        raise ValueError(f"user name {name[:40]!r}: 2 to 32 characters, lowercase letters, digits, . _ -, "
                         f"starting with a letter")
    return name


def checked_comment(text: str) -> str:
    """A version's comment: one line of printable text, at most :data:`MAX_COMMENT` characters."""
    clean = " ".join(text.split())
    if not clean:
        raise ValueError("a comment is required: say what this version changes and why")
    if len(clean) > MAX_COMMENT or any(ord(c) < 32 for c in clean):
        raise ValueError(f"a comment is one line of at most {MAX_COMMENT} printable characters")
    return clean
