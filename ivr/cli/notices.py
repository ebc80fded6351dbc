"""``ivr notice on|off|list``: closure notices, on the store the servers share (``--store`` /
``IVR_STORE``, as for ``ivr serve``). A notice switched on here is heard on every node within
``IVR_NOTICE_POLL`` seconds; the console and the API do the same."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional

import typer

from .stores import BY_OPTION, STORE_OPTION, author, cli_origin, run_with_store

if TYPE_CHECKING:
    from ..notices import Notice
    from ..store import Store


__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Closure notices read to every caller after the welcome.")

_STORE = STORE_OPTION
_BY = BY_OPTION


def _author(by: Optional[str]) -> str:
    return author(by, "ivr notice")


@app.command("on")
def notice_on(
    text: str = typer.Argument(..., help="What callers hear, in French (at most 400 characters)."),
    starts: str = typer.Option("now", "--from", metavar="WHEN", help="now, +30m, +2h, 14:30 or 2026-12-24T12:00 (Paris)."),
    until: Optional[str] = typer.Option(None, "--until", metavar="WHEN", help="When it stops (default: until switched off)."),
    closed: bool = typer.Option(False, "--closed", help="The line is closed: callers hear it, then goodbye."),
    by: Optional[str] = _BY,
    store: Optional[str] = _STORE,
) -> None:
    """Switch a notice on; prints it as JSON."""
    from ..notices import NoticeError, NoticeRequest
    from ..versions.model import AuditAction

    try:
        asked = NoticeRequest.checked(text, starts, until, closed, _author(by), datetime.now(timezone.utc))
    except NoticeError as exc:
        typer.echo(f"ivr notice on: {exc}", err=True)
        raise typer.Exit(2) from None

    async def add(s: Store) -> Notice:
        notice_id = await s.add_notice(asked.text, asked.starts_at, asked.ends_at, asked.closes, asked.by)
        await s.add_audit(asked.by, AuditAction.NOTICE_ON, f"notice {notice_id}", cli_origin(),
                          {"text": asked.text, "closes": asked.closes})
        return next(n for n in await s.notices() if n.id == notice_id)
    notice = run_with_store(store, add)
    typer.echo(json.dumps(notice.as_dict(), ensure_ascii=False))


@app.command("off")
def notice_off(notice_id: int = typer.Argument(..., metavar="ID"), by: Optional[str] = _BY,
               store: Optional[str] = _STORE) -> None:
    """Switch a notice off (every node stops playing it within seconds)."""
    from ..versions.model import AuditAction

    who = _author(by)

    async def end(s: Store) -> bool:
        done = await s.end_notice(notice_id, who)
        if done:
            await s.add_audit(who, AuditAction.NOTICE_OFF, f"notice {notice_id}", cli_origin())
        return done
    ended = run_with_store(store, end)
    if not ended:
        typer.echo(f"ivr notice off: no notice {notice_id} is on", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"ok": True, "id": notice_id}))


@app.command("list")
def notice_list(store: Optional[str] = _STORE) -> None:
    """The notices, newest first, one JSON object per line (``live``: the one callers hear now)."""
    from ..notices import live_notice

    notices = run_with_store(store, lambda s: s.notices())
    live = live_notice(notices, datetime.now(timezone.utc))
    for n in notices:
        typer.echo(json.dumps({**n.as_dict(), "live": live is not None and n.id == live.id}, ensure_ascii=False))
