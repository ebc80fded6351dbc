"""The line's configuration — flows, routing rules, prompt catalog — loaded, checked and applied as one.

``ivr flows check`` and a running server's reload run the same :func:`load_line`: what one accepts
the other serves. A reload is all or nothing (a flow naming a prompt that the same edit added to the
catalog is accepted; a broken rules file keeps every file at its running version), and runs off the
event loop. The last accepted configuration is kept on disk (:class:`AcceptedLines`), so a server
restarted with a broken file serves the last good one and says so.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from .. import dialplan
from ..asterisk_config import load_asterisk_config
from ..calls.supervisor import APOLOGY_PROMPT
from ..engine.questions import PAUSE_PROMPTS
from ..engine.validate import LoadedFlow, ValidationContext, check_flows, flow_files
from ..interfaces import LineProfile, LookupSpec
from ..routing.keep_turn import TURN_PROMPTS
from ..routing.rules import RoutingRules, load_rules, unproduced_values
from ..tts.catalog import Catalog, CatalogError, load_catalog
from ..versions.model import SOURCE_NAMES, content_hash
from ..yamlsrc import SourceError, read_source
from .checks import validation_context

__all__ = ["LineSources", "LineConfig", "load_line", "load_line_apart", "start_line_worker", "AcceptedLines",
           "write_sources"]

log = structlog.get_logger("ivr.line")


@dataclass(frozen=True)
class LineSources:
    """Where the configuration is read from."""

    flows: list[Path]  # folders (``*.yaml``, ``*.yml``) or files
    catalog: Path
    rules: Path
    #: The rendered prompts (default: ``wav/`` beside the catalog).
    audio_dir: Path | None = None
    #: Asterisk's configuration (``asterisk/etc``): the flows the dialplan runs, the variables it
    #: forwards to agents, the queues it defines. None: the flows are not checked against it.
    asterisk: Path | None = None

    def files(self) -> list[Path]:
        """Every file the configuration is read from (what a watcher polls)."""
        flows, _ = flow_files(self.flows)
        audio = self.audio_dir or self.catalog.parent / "wav"
        asterisk = [self.asterisk / "extensions.conf", self.asterisk / "queues.conf"] if self.asterisk else []
        return [*flows, self.catalog, self.rules, audio / "manifest.json", *asterisk]


@dataclass
class LineConfig:
    """One accepted configuration of the line."""

    catalog: Catalog
    rules: RoutingRules
    flows: dict[str, LoadedFlow]
    #: Every source file's text, by the name it is kept under (``flows/<file>``, ``catalog.yaml``, ``rules.yaml``).
    texts: dict[str, str]
    version: str = field(init=False)

    @property
    def warnings(self) -> list[str]:
        """What is legal yet suspicious in the flows (``file:line: message``), never blocking."""
        return [w for flow in self.flows.values() for w in flow.warnings]

    def __post_init__(self) -> None:
        self.version = content_hash(self.texts)


def load_line(sources: LineSources, profile: LineProfile, lookups: Mapping[str, LookupSpec]
              ) -> tuple[LineConfig | None, list[str]]:
    """Read and check everything; the configuration, or None and every error (``file:line: …``).

    Blocking (file reads, YAML parsing): a server runs it in a worker thread. It never raises: a check
    that breaks rejects the configuration with what broke, and the running version stays.
    """
    try:
        return _load_line(sources, profile, lookups)
    except Exception as exc:
        where = next(iter(sources.flows), sources.catalog)
        return None, [f"{where}:1: the configuration could not be checked ({type(exc).__name__}: {str(exc)[:200]}): "
                      f"it is rejected, the running version stays; please report it"]


def _load_line(sources: LineSources, profile: LineProfile, lookups: Mapping[str, LookupSpec]
               ) -> tuple[LineConfig | None, list[str]]:
    errors: list[str] = []
    catalog: Catalog | None = None
    rules: RoutingRules | None = None
    texts: dict[str, str] = {}
    try:
        catalog = load_catalog(sources.catalog, audio_dir=sources.audio_dir)
        texts["catalog.yaml"] = read_source(sources.catalog)
    except (CatalogError, SourceError) as exc:
        errors += str(exc).splitlines()
    asterisk = load_asterisk_config(sources.asterisk) if sources.asterisk is not None else None
    if sources.asterisk is not None and asterisk is None:
        errors.append(f"{sources.asterisk}: no extensions.conf and queues.conf here (Asterisk's configuration)")
    try:
        rules = load_rules(sources.rules, profile.fact_types, values=profile.fact_values,
                           asterisk_queues=asterisk.queues if asterisk else None)
        texts["rules.yaml"] = read_source(sources.rules)
    except SourceError as exc:
        errors += exc.messages
    files, missing = flow_files(sources.flows)
    errors += missing
    if catalog is not None:
        ctx = validation_context(catalog, lookups, profile, rules.queues if rules else ())
        ctx.stale = catalog.stale()
    else:  # the flows are still checked for everything but their prompts
        ctx = validation_context(Catalog(sources.catalog, {}), lookups, profile, rules.queues if rules else (),
                                 check_prompts=False)
    if rules is None:  # the queues are unknown: only the fallback queue is sure to exist
        ctx.queues = ("auto", profile.fallback_queue)
    # The line's today (closed dates all in the past are worth a warning); rules say the line's zone.
    ctx.today = datetime.now(ZoneInfo(rules.timezone if rules else "Europe/Paris")).date()
    if asterisk is not None:
        # (The waiting caller's key * keep-turn, is answered by the server itself, not by a flow.)
        ctx.dialplan_flows = {name: str(where) for name, where in asterisk.flows.items()
                              if name != dialplan.KEEP_TURN_REQUEST}
        ctx.forwarded = set(asterisk.forwarded)
    if catalog is not None:
        errors += _engine_prompts(sources.catalog, texts["catalog.yaml"], ctx)
    flows, flow_errors = check_flows(files, ctx)
    errors += flow_errors
    if rules is not None and flows and not flow_errors:
        reasons = {r for flow in flows.values() for node in flow.model.nodes.values() for r in node.routing_reasons()}
        errors += unproduced_values(sources.rules, "reason", reasons)
    if errors or catalog is None or rules is None:
        return None, errors
    for flow in flows.values():
        texts[f"flows/{flow.path.name}"] = read_source(flow.path)
    return LineConfig(catalog, rules, flows, texts), []


#: Prompts the IVR plays on its own, whatever the flows say, and when.
ENGINE_PROMPTS = {APOLOGY_PROMPT: "before handing a call that failed in the IVR to an agent",
                  PAUSE_PROMPTS[0]: "when a caller asks a question to wait (« un instant », the pause key)",
                  PAUSE_PROMPTS[1]: "to remind a caller who asked for time that the line waits",
                  TURN_PROMPTS[0]: "when a caller waiting in a queue has booked a callback that keeps their place",
                  TURN_PROMPTS[1]: "when a caller waiting in a queue does not confirm that callback",
                  TURN_PROMPTS[2]: "when that callback is not possible (the number, the manager, the store)"}


def _engine_prompts(catalog: Path, text: str, ctx: ValidationContext) -> list[str]:
    """The prompts the IVR itself plays are in the catalog (``text``, already read) and playable (no flow
    names them)."""
    line = next((n for n, row in enumerate(text.splitlines(), 1) if row.startswith("prompts:")), 1)
    out = []
    for prompt, when in ENGINE_PROMPTS.items():
        problem = ("is not in the catalog" if prompt not in ctx.prompts else
                   "has no rendered WAV (run `ivr prompts build`)" if prompt in ctx.unrendered else
                   f"has an audio file Asterisk would not play ({ctx.unplayable[prompt]})" if prompt in ctx.unplayable
                   else None)
        if problem:
            out.append(f"{catalog}:{line}: prompt {prompt!r} {problem}: the IVR plays it itself, {when}")
    return out


def write_sources(texts: Mapping[str, str], folder: Path, *, audio_dir: Path | None,
                  asterisk: Path | None) -> LineSources:
    """Write a configuration's files (a published version, a draft) into ``folder`` (emptied first), laid
    out as ``load_line`` reads them: ``flows/``, ``catalog.yaml``, ``rules.yaml``. A name that is not one
    of those (:data:`~ivr.versions.model.SOURCE_NAMES`) is refused: nothing is written outside the folder."""
    bad = [name for name in texts if not SOURCE_NAMES.fullmatch(name)]
    if bad:
        raise ValueError(f"not a configuration file: {bad[0][:80]!r}")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "flows").mkdir(parents=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return LineSources(flows=[folder / "flows"], catalog=folder / "catalog.yaml", rules=folder / "rules.yaml",
                       audio_dir=audio_dir, asterisk=asterisk)


class AcceptedLines:
    """The last accepted configurations, kept on disk (the three most recent) with their version."""

    def __init__(self, folder: Path, keep: int = 3) -> None:
        self.folder = Path(folder)
        self.keep = keep

    def save(self, config: LineConfig) -> Path:
        """Keep ``config``'s files under ``<folder>/<version>/``; the ``current`` pointer is switched
        atomically, so a crash leaves the previous one in place."""
        target = self.folder / config.version
        if not target.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=".saving-"))
            for name, text in config.texts.items():
                path = staging / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            (staging / "accepted.json").write_text(json.dumps({"version": config.version, "saved_at": time.time(),
                                                               "flows": sorted(config.flows)}), encoding="utf-8")
            os.replace(staging, target)
        pointer = self.folder / ".current.tmp"
        pointer.write_text(config.version, encoding="utf-8")
        os.replace(pointer, self.folder / "current")
        self._prune(config.version)
        return target

    def _prune(self, current: str) -> None:
        versions = sorted((p for p in self.folder.iterdir() if p.is_dir() and not p.name.startswith(".")),
                          key=lambda p: p.stat().st_mtime, reverse=True)
        for old in [p for p in versions if p.name != current][self.keep - 1:]:
            shutil.rmtree(old, ignore_errors=True)

    def current(self) -> tuple[str, float] | None:
        """The kept version and when it was accepted, or None."""
        try:
            version = (self.folder / "current").read_text(encoding="utf-8").strip()
            meta = json.loads((self.folder / version / "accepted.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return version, float(meta.get("saved_at", 0))

    def sources(self, audio_dir: Path) -> LineSources | None:
        """Where the kept configuration can be loaded from (its prompts' audio stays where it is)."""
        kept = self.current()
        if kept is None:
            return None
        root = self.folder / kept[0]
        return LineSources(flows=[root / "flows"], catalog=root / "catalog.yaml", rules=root / "rules.yaml",
                           audio_dir=audio_dir)


# -- loading away from the event loop -------------------------------------------------------------

_pool: ProcessPoolExecutor | None = None


def load_profile(profile_ref: str) -> LineProfile:
    """The line profile ``module:attribute`` names (``ivr.ants3400.profile:PROFILE``); a clear error
    when there is none there."""
    module, _, name = profile_ref.partition(":")
    try:
        profile = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"profile {profile_ref!r} cannot be loaded: {exc}") from None
    if not isinstance(profile, LineProfile):
        raise ValueError(f"profile {profile_ref!r} is a {type(profile).__name__}, not a LineProfile")
    return profile


def _load_by_reference(sources: LineSources, profile_ref: str, lookups: dict[str, LookupSpec]
                       ) -> tuple[LineConfig | None, list[str]]:
    """In the worker process: the profile is imported there (functions do not travel between processes)."""
    return load_line(sources, load_profile(profile_ref), lookups)


def _warm(profile_ref: str) -> bool:
    """In the worker process: import what a reload needs, so that the first reload does not."""
    module, _, _ = profile_ref.partition(":")
    importlib.import_module(module)
    return True


def _worker_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_exit_with_parent, initargs=(os.getpid(),))
    return _pool


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """In the worker process: leave when the server that started it is gone. A server killed (or
    stopped without shutting its pool down) would otherwise leave the worker running for ever: it
    holds both ends of its own task pipe, so it never reads an end of file."""
    # Bound now: while the worker exits normally, the interpreter clears module globals under this
    # daemon thread (``os`` would be None by the time it wakes up).
    getppid, sleep, leave = os.getppid, time.sleep, os._exit

    def watch() -> None:
        try:
            while getppid() == parent:
                sleep(every)
        except BaseException:  # the worker is exiting anyway: nothing to say, nothing to do
            return
        leave(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


async def start_line_worker(profile_ref: str) -> None:
    """Start the worker process now (at server start, before calls), not at the first reload:
    starting it costs a second of CPU, which live calls would feel."""
    try:
        await asyncio.get_running_loop().run_in_executor(_worker_pool(), _warm, profile_ref)
    except (BrokenProcessPool, OSError, RuntimeError) as exc:
        log.warning("line_worker_unavailable", error=str(exc), fallback="a thread")


async def load_line_apart(sources: LineSources, profile: LineProfile, lookups: Mapping[str, LookupSpec], *,
                          profile_ref: str | None) -> tuple[LineConfig | None, list[str]]:
    """:func:`load_line` in a worker process, so that parsing a large file never holds the interpreter
    lock a live call's next AGI command waits for. Without ``profile_ref`` (a profile built in code),
    or when the worker cannot run, it runs in a thread of this process."""
    global _pool
    plain = dict(lookups)
    if profile_ref is not None:
        try:
            return await asyncio.get_running_loop().run_in_executor(_worker_pool(), _load_by_reference, sources,
                                                                    profile_ref, plain)
        except (BrokenProcessPool, OSError, RuntimeError) as exc:  # the worker died (a file too much for it)
            _pool = None
            log.warning("line_worker_unavailable", error=str(exc), fallback="a thread")
        except Exception as exc:  # its answer could not come back: the configuration stays rejected
            where = next(iter(sources.flows), sources.catalog)
            return None, [f"{where}:1: the configuration could not be checked ({type(exc).__name__}): it is "
                          f"rejected, the running version stays"]
    return await asyncio.to_thread(load_line, sources, profile, plain)
