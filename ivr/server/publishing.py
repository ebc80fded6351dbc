"""Publishing the line's configuration as numbered versions, rolling back, and every node following the
live one.

One source of truth at a time:

* until the first publish, a node serves the files on disk (``IVR_FLOWS_DIR``, the rules, the catalog)
  and reloads them when they change, as it always did;
* from the first publish on, the store's live version (the highest number) is the line's configuration.
  Every node asks the store for it every ``IVR_VERSION_POLL`` seconds and applies a new one to new
  calls (calls in progress finish on theirs); files saved on disk are drafts, which go live only when
  published (``ivr flows publish``, the console's draft page). A rollback publishes an older version's
  files again, under a new number, so the history only grows.

A version is checked by the same :func:`~ivr.server.line.load_line` as a reload before it is kept: what
the store holds, every node can serve (a node that cannot — a prompt it has no audio for — keeps its
version, says so, and the audit trail records it).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from ..interfaces import LineProfile, LookupSpec
from ..store import Store
from ..versions.diff import Change, diff_texts
from ..versions.model import AuditAction, AuditEntry, LineVersion, checked_comment
from .line import LineConfig, LineSources, load_line, load_line_apart, write_sources
from .preview import PreviewReport

__all__ = ["Publication", "DraftChecker", "publish", "rollback", "VersionFollower", "LineDesk"]

log = structlog.get_logger("ivr.versions")

#: What checks a configuration given as its files' texts.
Check = Callable[[Mapping[str, str]], Awaitable[tuple[LineConfig | None, list[str]]]]
#: What replays the last recorded calls (how many, ended since when) through a checked configuration.
Replay = Callable[[LineConfig, int, float | None], Awaitable[PreviewReport]]


@dataclass
class Publication:
    """What a publish or a rollback did: the version kept, or the errors that stopped it."""

    version: LineVersion | None = None
    errors: list[str] = field(default_factory=list)
    #: The configuration is the live one already: nothing was kept.
    unchanged: bool = False

    @property
    def ok(self) -> bool:
        """Whether the configuration is live now (kept, or already the live one)."""
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON."""
        return {"ok": self.ok, "unchanged": self.unchanged, "errors": list(self.errors),
                "version": self.version.summary() if self.version else None}


class DraftChecker:
    """Checks a configuration given as texts (a draft, an older version) as a node would load it: written
    to a scratch folder beside this node's rendered prompts and Asterisk configuration, loaded with
    :func:`load_line`; errors name the files as the version does (``flows/ants-3400.yaml:12: …``)."""

    def __init__(self, profile: LineProfile, lookups: Mapping[str, LookupSpec], *, audio_dir: Path | None,
                 asterisk: Path | None, profile_ref: str | None = None, apart: bool = False) -> None:
        self.profile = profile
        self.lookups = dict(lookups)
        self.audio_dir = audio_dir
        self.asterisk = asterisk
        self.profile_ref = profile_ref
        #: In the reload worker process (a server), or in a thread (the CLI).
        self.apart = apart

    async def __call__(self, texts: Mapping[str, str]) -> tuple[LineConfig | None, list[str]]:
        """The checked configuration, or None and every error."""
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="ivr-draft-"))
        try:
            try:
                sources = await asyncio.to_thread(write_sources, texts, scratch / "line", audio_dir=self.audio_dir,
                                                  asterisk=self.asterisk)
            except ValueError as exc:
                return None, [f"{exc}"]
            config, errors = await self.load(sources)
            return config, [error.replace(f"{scratch / 'line'}/", "") for error in errors]
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def load(self, sources: LineSources) -> tuple[LineConfig | None, list[str]]:
        """:func:`load_line` on ``sources``, apart from the event loop."""
        if self.apart:
            return await load_line_apart(sources, self.profile, self.lookups, profile_ref=self.profile_ref)
        return await asyncio.to_thread(load_line, sources, self.profile, self.lookups)


async def publish(store: Store, checked: tuple[LineConfig | None, list[str]], *, author: str, comment: str,
                  origin: str) -> Publication:
    """Keep a checked configuration as the live version (unless it is the live one already); the audit
    trail records the publish, or the rejected attempt with its errors."""
    config, errors = checked
    try:
        comment = checked_comment(comment)
    except ValueError as exc:
        errors = [*errors, str(exc)]
    if config is None or errors:
        await store.add_audit(author, AuditAction.PUBLISH_REJECTED, "", origin, {"errors": errors[:20]})
        return Publication(errors=errors)
    live = await store.live_version()
    if live is not None and live.hash == config.version:
        return Publication(version=live, unchanged=True)
    version = await store.add_version(dict(config.texts), config.version, author, comment, AuditAction.PUBLISH)
    await store.add_audit(author, AuditAction.PUBLISH, f"version {version.number}", origin,
                          {"hash": version.hash, "comment": comment, "flows": sorted(config.flows)})
    log.info("version_published", number=version.number, hash=version.hash, author=author)
    return Publication(version=version)


async def rollback(store: Store, number: int, check: Check, *, author: str, comment: str,
                   origin: str) -> Publication:
    """Make version ``number``'s files live again, as a new version, once they pass the checks here (a
    version published long ago may name a prompt since removed from the audio)."""
    old = await store.version(number)
    if old is None:
        errors = [f"there is no version {number}"]
    else:
        config, errors = await check(old.texts)
    if old is None or errors or config is None:
        await store.add_audit(author, AuditAction.ROLLBACK_REJECTED, f"version {number}", origin,
                              {"errors": errors[:20]})
        return Publication(errors=errors)
    live = await store.live_version()
    if live is not None and live.hash == config.version:
        return Publication(version=live, unchanged=True)
    text = comment.strip() or f"retour à la version {number}"
    version = await store.add_version(dict(old.texts), config.version, author, checked_comment(text),
                                      AuditAction.ROLLBACK, restores=number)
    await store.add_audit(author, AuditAction.ROLLBACK, f"version {version.number}", origin,
                          {"restores": number, "hash": version.hash, "comment": version.comment})
    log.info("version_rolled_back", number=version.number, restores=number, author=author)
    return Publication(version=version)


class VersionFollower:
    """Asks the store for the live version every ``every`` seconds and hands each new one to ``apply``
    (which returns the errors that kept it from being served, none when it is served)."""

    def __init__(self, store: Store, apply: Callable[[LineVersion], Awaitable[list[str]]], *, node: str,
                 every: float = 2.0) -> None:
        self.store = store
        self.apply = apply
        self.node = node
        self.every = every
        #: The live version last seen (its number), and whether this node serves it.
        self.seen: int | None = None
        self.serving: int | None = None
        self.state = "ok"

    async def check(self) -> LineVersion | None:
        """Apply the live version if it is new to this node; the live version (None before any publish)."""
        live = await self.store.live_version()
        if live is None or live.number == self.seen:
            return live
        version = await self.store.version(live.number)
        if version is None:
            return live
        self.seen = live.number
        errors = await self.apply(version)
        actor = f"node {self.node}"
        if errors:
            await self.store.add_audit(actor, AuditAction.APPLIED_REJECTED, f"version {version.number}", "node",
                                       {"errors": errors[:20]})
        else:
            self.serving = version.number
            await self.store.add_audit(actor, AuditAction.APPLIED, f"version {version.number}", "node",
                                       {"hash": version.hash})
        return live

    async def run(self) -> None:
        """Follow for as long as the node runs (the store away: the node keeps what it serves)."""
        while True:
            try:
                await self.check()
                self.state = "ok"
            except Exception as exc:
                if self.state == "ok":
                    log.warning("live_version_unknown", error=type(exc).__name__)
                self.state = f"store away ({type(exc).__name__})"
            await asyncio.sleep(self.every)


class LineDesk:
    """What the console does with versions and drafts (:class:`ivr.admin.status.LineDesk`): list, show
    and compare versions, check a draft against the live version, publish it, roll back, read the
    audit trail. ``checker()`` checks texts as this node would serve them; ``served()`` gives the files
    this node serves now (before any publish: the files on disk)."""

    def __init__(self, store: Store, checker: Callable[[], Check], served: Callable[[], Mapping[str, str]],
                 replay: Replay | None = None) -> None:
        self.store = store
        self.checker = checker
        self.served = served
        #: Replays the last recorded calls through a checked configuration (:mod:`ivr.server.preview`).
        self.replay = replay

    async def versions(self, limit: int = 50) -> list[LineVersion]:
        """The last versions, the live one first."""
        return await self.store.versions(limit)

    async def version(self, number: int) -> LineVersion | None:
        """One version with its files."""
        return await self.store.version(number)

    async def live_texts(self) -> dict[str, str]:
        """The files of the live version (the files served, before any publish): where a draft starts."""
        live = await self.store.live_version()
        found = await self.store.version(live.number) if live else None
        return dict(found.texts) if found is not None else dict(self.served())

    async def diff(self, texts: Mapping[str, str]) -> list[Change]:
        """What ``texts`` change from the live version."""
        return diff_texts(await self.live_texts(), texts)

    async def check(self, texts: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """A draft's errors (``file:line: …``) and warnings, as a publish would find them."""
        config, errors = await self.checker()(texts)
        return errors, (config.warnings if config is not None else [])

    async def preview(self, texts: Mapping[str, str], *, calls: int, since: float | None, author: str,
                      origin: str) -> tuple[list[str], PreviewReport | None]:
        """Check a draft, then replay the last ``calls`` recorded calls (ended since ``since``) through it:
        the errors that stop it, or what would change."""
        config, errors = await self.checker()(texts)
        if config is None or errors or self.replay is None:
            return errors or ["no recorded calls to replay here"], None
        report = await self.replay(config, calls, since)
        try:
            await self.store.add_audit(author, AuditAction.PREVIEW, "draft", origin,
                                       {k: v for k, v in report.totals().items() if k != "transfers"})
        except Exception as exc:  # a preview changes nothing: the store away loses its trace, not the answer
            log.warning("audit_not_kept", action="preview", error=type(exc).__name__)
        return [], report

    async def publish(self, texts: Mapping[str, str], *, author: str, comment: str, origin: str) -> Publication:
        """Check a draft and make it the live version."""
        return await publish(self.store, await self.checker()(texts), author=author, comment=comment, origin=origin)

    async def rollback(self, number: int, *, author: str, comment: str, origin: str) -> Publication:
        """Make version ``number``'s files live again."""
        return await rollback(self.store, number, self.checker(), author=author, comment=comment, origin=origin)

    async def audit(self, limit: int = 200, before_id: int | None = None) -> list[AuditEntry]:
        """The audit trail, newest first."""
        return await self.store.audit(limit, before_id=before_id)
