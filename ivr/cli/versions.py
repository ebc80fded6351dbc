"""``ivr flows publish|versions|show|diff|rollback|preview``, ``ivr audit`` and ``ivr users``: the line's
published versions, the audit trail and the console's users, on the store the servers share (``--store``
/ ``IVR_STORE``, as for ``ivr serve``). A version published or rolled back here serves new calls on every
node within ``IVR_VERSION_POLL`` seconds (``ivr.server.publishing`` says how files on disk relate);
``preview`` replays the last recorded calls through a draft (``ivr.server.preview``)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from .flows import app as flows_app
from .stores import BY_OPTION, STORE_OPTION, author, cli_origin, run_with_store, with_store

if TYPE_CHECKING:
    from ..server.line import LineConfig
    from ..server.publishing import DraftChecker, Publication
    from ..store import Store
    from ..versions.model import LineVersion

__all__ = ["audit_app", "users_app"]

audit_app = typer.Typer(no_args_is_help=True, help="The audit trail: who did what to the line, when, from where.")
users_app = typer.Typer(no_args_is_help=True, help="The console's users and their roles (viewer, editor, publisher).")


def _line_files(flows_dir: Optional[Path], prompts_dir: Optional[Path], rules: Optional[Path]) -> tuple[
        list[Path], Path, Path]:
    """The files a version is made of: as given, else the servers' (IVR_FLOWS_DIR, IVR_PROMPTS_DIR,
    IVR_ROUTING_RULES)."""
    from ..config import DEFAULT_RULES, Settings

    settings = Settings()
    return ([flows_dir or settings.flows_dir], (prompts_dir or settings.prompts_dir) / "catalog.yaml",
            rules or settings.routing_rules or DEFAULT_RULES)


def _checker(prompts_dir: Optional[Path]) -> DraftChecker:
    from ..asterisk_config import shipped_asterisk_etc
    from ..config import Settings
    from ..server.checks import declared_lookups
    from ..server.publishing import DraftChecker
    from .flows import _profile

    settings = Settings()
    profile = _profile()
    return DraftChecker(profile, declared_lookups(profile), audio_dir=(prompts_dir or settings.prompts_dir) / "wav",
                        asterisk=settings.asterisk_etc or shipped_asterisk_etc())


def _report(command: str, done: Publication) -> None:
    for line in done.errors:
        typer.echo(line, err=True)
    if not done.ok:
        typer.echo(f"{command}: rejected ({len(done.errors)} error(s)); the live version stays", err=True)
        raise typer.Exit(1)
    assert done.version is not None
    v = done.version
    state = "already live" if done.unchanged else "live"
    typer.echo(f"version {v.number} ({v.hash}) is {state}: {v.comment}")


@flows_app.command("publish")
def flows_publish(
    flows_dir: Optional[Path] = typer.Argument(None, metavar="DIR", help="The flows folder (default: IVR_FLOWS_DIR)."),
    comment: str = typer.Option(..., "--comment", "-m", metavar="TEXT", help="What this version changes and why."),
    prompts_dir: Optional[Path] = typer.Option(None, "--prompts-dir", metavar="DIR",
                                               help="Folder holding catalog.yaml (default: IVR_PROMPTS_DIR)."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE", help="Routing rules (default: IVR_ROUTING_RULES)."),
    by: Optional[str] = BY_OPTION,
    store: Optional[str] = STORE_OPTION,
) -> None:
    """Check the flows with the catalog and the rules, as every node will, and make them the live version;
    exit 1 (every error as file:line) when they do not pass."""
    from ..server.line import LineSources
    from ..server.publishing import publish

    who = author(by, "ivr flows publish")
    flows, catalog, rules_file = _line_files(flows_dir, prompts_dir, rules)
    checker = _checker(prompts_dir)
    sources = LineSources(flows=flows, catalog=catalog, rules=rules_file, audio_dir=checker.audio_dir,
                          asterisk=checker.asterisk)

    async def work(s: Store) -> Publication:
        checked: tuple[LineConfig | None, list[str]] = await checker.load(sources)
        return await publish(s, checked, author=who, comment=comment, origin=cli_origin())
    _report("ivr flows publish", run_with_store(store, work))


@flows_app.command("rollback")
def flows_rollback(
    number: int = typer.Argument(..., metavar="VERSION", help="The version whose files go live again."),
    comment: str = typer.Option("", "--comment", "-m", metavar="TEXT", help="Why (default: « retour à la version N »)."),
    prompts_dir: Optional[Path] = typer.Option(None, "--prompts-dir", metavar="DIR",
                                               help="Rendered prompts the version is checked against (default: IVR_PROMPTS_DIR)."),
    by: Optional[str] = BY_OPTION,
    store: Optional[str] = STORE_OPTION,
) -> None:
    """Make an earlier version live again (as a new version number), once it passes the checks today."""
    from ..server.publishing import rollback

    who = author(by, "ivr flows rollback")
    checker = _checker(prompts_dir)
    _report("ivr flows rollback", run_with_store(
        store, lambda s: rollback(s, number, checker, author=who, comment=comment, origin=cli_origin())))


@flows_app.command("versions")
def flows_versions(
    limit: int = typer.Option(20, "--limit", metavar="N", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
    store: Optional[str] = STORE_OPTION,
) -> None:
    """The published versions, the live one first."""
    from datetime import datetime, timezone

    versions = run_with_store(store, lambda s: s.versions(limit))
    if not versions:
        typer.echo("no version published yet: the nodes serve the files on disk", err=True)
    for i, v in enumerate(versions):
        if as_json:
            typer.echo(json.dumps({**v.summary(), "live": i == 0}, ensure_ascii=False))
            continue
        when = datetime.fromtimestamp(v.created_at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        restores = f" (version {v.restores} again)" if v.restores else ""
        typer.echo(f"{'*' if i == 0 else ' '} {v.number:>4}  {v.hash}  {when}  {v.author}: {v.comment}{restores}")


def _version(store: Optional[str], number: Optional[int]) -> LineVersion:
    async def find(s: Store) -> LineVersion | None:
        if number is not None:
            return await s.version(number)
        live = await s.live_version()
        return await s.version(live.number) if live else None
    found = run_with_store(store, find)
    if found is None:
        typer.echo(f"no version {number}" if number is not None else "no version published yet", err=True)
        raise typer.Exit(1)
    return found


@flows_app.command("show")
def flows_show(
    number: Optional[int] = typer.Argument(None, metavar="VERSION", help="Default: the live version."),
    file: Optional[str] = typer.Option(None, "--file", metavar="NAME", help="Print this file (flows/x.yaml, rules.yaml, catalog.yaml)."),
    store: Optional[str] = STORE_OPTION,
) -> None:
    """A version: who, when, why, its files (or one file's text)."""
    v = _version(store, number)
    if file is not None:
        if file not in v.texts:
            typer.echo(f"version {v.number} has no file {file!r}: {', '.join(sorted(v.texts))}", err=True)
            raise typer.Exit(1)
        sys.stdout.write(v.texts[file])
        return
    typer.echo(json.dumps({**v.summary(), "files": sorted(v.texts)}, ensure_ascii=False, indent=2))


@flows_app.command("diff")
def flows_diff(
    older: int = typer.Argument(..., metavar="VERSION", help="The version to compare from."),
    newer: Optional[int] = typer.Argument(None, metavar="[VERSION]", help="The version to compare to (default: the live one)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per change."),
    store: Optional[str] = STORE_OPTION,
) -> None:
    """What changed between two versions, node by node and field by field."""
    from ..versions.diff import diff_texts

    a, b = _version(store, older), _version(store, newer)
    changes = diff_texts(a.texts, b.texts)
    for c in changes:
        if as_json:
            typer.echo(json.dumps(c.as_dict(), ensure_ascii=False))
        else:
            typer.echo(f"{c.file}  {c.part or '(file)'}  {c.field}: {c.before!r} → {c.after!r}")
    if not as_json:
        typer.echo(f"{len(changes)} change(s) from version {a.number} to version {b.number}")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(100, "--limit", metavar="N", min=1, max=100_000),
    fmt: str = typer.Option("text", "--format", metavar="text|json|csv", help="text, json (one object a line) or csv."),
    store: Optional[str] = STORE_OPTION,
) -> None:
    """The audit trail, newest first: who, when, what, from where."""
    from datetime import datetime, timezone

    from ..versions.model import audit_csv

    if fmt not in ("text", "json", "csv"):
        typer.echo(f"unknown format {fmt!r}: text, json or csv", err=True)
        raise typer.Exit(2)
    entries = run_with_store(store, lambda s: s.audit(limit))
    if fmt == "csv":
        sys.stdout.write(audit_csv(entries))
        return
    for e in entries:
        if fmt == "json":
            typer.echo(json.dumps(e.as_dict(), ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(e.at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            typer.echo(f"{e.id:>6}  {when}  {e.actor}  {e.action}  {e.target}  {e.origin}")


def _password(read_stdin: bool) -> str:
    from ..versions.access import checked_password

    if read_stdin:
        given = sys.stdin.readline().rstrip("\n")
    else:
        given = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        return checked_password(given)
    except ValueError as exc:
        typer.echo(f"ivr users: {exc}", err=True)
        raise typer.Exit(2) from None


def _role(text: str) -> str:
    from ..versions.model import Role

    try:
        return Role(text).value
    except ValueError:
        typer.echo(f"unknown role {text!r}: {', '.join(r.value for r in Role)}", err=True)
        raise typer.Exit(2) from None


def _name(text: str) -> str:
    from ..versions.model import checked_user_name

    try:
        return checked_user_name(text)
    except ValueError as exc:
        typer.echo(f"ivr users: {exc}", err=True)
        raise typer.Exit(2) from None


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., metavar="NAME"),
    role: str = typer.Option(..., "--role", metavar="viewer|editor|publisher"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input."),
    by: Optional[str] = BY_OPTION,
    store: Optional[str] = STORE_OPTION,
) -> None:
    """Add a user (or set an existing one's password and role)."""
    from ..versions.access import hash_password
    from ..versions.model import AuditAction

    who, user, kind = author(by, "ivr users add"), _name(name), _role(role)
    hashed = hash_password(_password(password_stdin))

    async def work(s: Store) -> None:
        await s.save_user(user, hashed, kind)
        await s.add_audit(who, AuditAction.USER_CHANGED, f"user {user}", cli_origin(), {"role": kind})
    run_with_store(store, work)
    typer.echo(f"user {user}: {kind}")


@users_app.command("role")
def users_role(name: str = typer.Argument(..., metavar="NAME"),
               role: str = typer.Argument(..., metavar="viewer|editor|publisher"),
               by: Optional[str] = BY_OPTION, store: Optional[str] = STORE_OPTION) -> None:
    """Change a user's role (their password stays)."""
    from ..versions.model import AuditAction

    who, user, kind = author(by, "ivr users role"), _name(name), _role(role)

    async def work(s: Store) -> bool:
        found = await s.user(user)
        if found is None:
            return False
        await s.save_user(user, found.password_hash, kind)
        await s.add_audit(who, AuditAction.USER_CHANGED, f"user {user}", cli_origin(), {"role": kind})
        return True
    if not run_with_store(store, work):
        typer.echo(f"no user {user}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {user}: {kind}")


@users_app.command("remove")
def users_remove(name: str = typer.Argument(..., metavar="NAME"), by: Optional[str] = BY_OPTION,
                 store: Optional[str] = STORE_OPTION) -> None:
    """Remove a user (their sessions end at once)."""
    from ..versions.model import AuditAction

    who, user = author(by, "ivr users remove"), _name(name)

    async def work(s: Store) -> bool:
        done = await s.remove_user(user)
        if done:
            await s.add_audit(who, AuditAction.USER_CHANGED, f"user {user}", cli_origin(), {"removed": True})
        return done
    if not run_with_store(store, work):
        typer.echo(f"no user {user}", err=True)
        raise typer.Exit(1)
    typer.echo(f"user {user} removed")


@users_app.command("list")
def users_list(store: Optional[str] = STORE_OPTION) -> None:
    """The users, their roles, and whether they are locked out now."""
    import time

    for u in run_with_store(store, lambda s: s.users()):
        locked = " (locked)" if u.locked_until and u.locked_until > time.time() else ""
        typer.echo(f"{u.name}  {u.role.value}{locked}")


@flows_app.command("preview")
def flows_preview(
    flows_dir: Optional[Path] = typer.Argument(None, metavar="DIR", help="The draft's flows folder (default: IVR_FLOWS_DIR)."),
    calls: int = typer.Option(500, "--calls", metavar="N", min=1, max=5000, help="How many of the last recorded calls."),
    since: Optional[str] = typer.Option(None, "--since", metavar="WHEN",
                                        help="Only calls ended since then: 2026-12-01, 2026-12-01T08:00 (Paris)."),
    prompts_dir: Optional[Path] = typer.Option(None, "--prompts-dir", metavar="DIR",
                                               help="Folder holding catalog.yaml (default: IVR_PROMPTS_DIR)."),
    rules: Optional[Path] = typer.Option(None, "--rules", metavar="FILE", help="Routing rules (default: IVR_ROUTING_RULES)."),
    records: Optional[Path] = typer.Option(None, "--records", metavar="FILE",
                                           help="Call records (default: IVR_RECORDS; with a PostgreSQL IVR_STORE, every node's)."),
    as_json: bool = typer.Option(False, "--json", help="The report as one JSON object."),
    store: Optional[str] = STORE_OPTION,
) -> None:
    """Check a draft, then replay the last recorded calls through it: per call the outcome, queue and reason
    before and after, and the counts that move; calls whose answers do not fit the draft are listed."""
    from datetime import datetime, timezone

    from ..config import Settings
    from ..notices import NoticeError, parse_when
    from ..server.line import LineSources
    from ..server.preview import last_records, preview
    from ..store import is_database_url
    from ..store.postgres import PostgresStore
    from .flows import _profile

    try:
        start = parse_when(since, datetime.now(timezone.utc)).timestamp() if since else None
    except NoticeError as exc:
        typer.echo(f"ivr flows preview: --since: {exc}", err=True)
        raise typer.Exit(2) from None
    flows, catalog, rules_file = _line_files(flows_dir, prompts_dir, rules)
    checker = _checker(prompts_dir)
    config, errors = asyncio.run(checker.load(LineSources(flows=flows, catalog=catalog, rules=rules_file,
                                                          audio_dir=checker.audio_dir, asterisk=checker.asterisk)))
    for line in errors:
        typer.echo(line, err=True)
    if config is None or errors:
        typer.echo(f"ivr flows preview: the draft does not pass the checks ({len(errors)} error(s))", err=True)
        raise typer.Exit(1)
    location = store or Settings().store
    records_file = records or Settings().records

    async def replay() -> Any:
        shared = is_database_url(location) and records is None
        if shared:
            return await with_store(location, lambda s: last_records(
                calls, since=start, records_file=None, store=s if isinstance(s, PostgresStore) else None))
        return await last_records(calls, since=start, records_file=records_file, store=None)
    found = asyncio.run(replay())
    report = asyncio.run(preview(config, _profile(), checker.lookups, found))
    data = report.as_dict()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    c = data["containment"]
    typer.echo(f"{data['calls']} call(s) replayed at {data['per_second']:.0f}/s: {data['changed']} would end otherwise, "
               f"{data['unfit']} do not fit the draft; containment {c['before']} → {c['after']}")
    for key, moved in data["transfers"].items():
        typer.echo(f"  transfers {key}: {moved['before']} → {moved['after']}")
    for call in data["changes"]:
        typer.echo(f"  {call['call_id']}  {call['started_at'][:16]}  {call['before']['outcome']} → {call['after']['outcome']}"
                   f" ({call['after']['reason']})")
    for call in data["unfit_calls"]:
        typer.echo(f"  {call['call_id']}  does not fit: {call['unfit']}")
