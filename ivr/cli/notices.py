"""``ivr notice on|off|list``: closure notices, on the store the servers share (``--store`` /
``IVR_STORE``, as for ``ivr serve``). A notice switched on here is heard on every node within
``IVR_NOTICE_POLL`` seconds; the console and the API do the same."""

from __future__ import annotations

import asyncio
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional, TypeVar

import typer

if TYPE_CHECKING:
    from ..notices import Notice
    from ..store import Store

T = TypeVar("T")

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="Closure notices read to every caller after the welcome.")

_STORE = typer.Option(None, "--store", metavar="FILE|URL", help="The store (default: IVR_STORE, as ivr serve).")
_BY = typer.Option(None, "--by", metavar="NAME", help="Who does it, for the audit (default: your login).")


def _store_location(store: Optional[str]) -> str:
    from ..config import Settings

    return store or Settings().store


async def _with_store(location: str, work: Callable[[Store], Awaitable[T]]) -> T:
    from ..store import make_store

    store = make_store(location)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def _author(by: Optional[str]) -> str:
    from ..notices import NoticeError, checked_author

    try:
        return checked_author(by or getpass.getuser())
    except NoticeError as exc:
        typer.echo(f"ivr notice: {exc}", err=True)
        raise typer.Exit(2) from None


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

    try:
        asked = NoticeRequest.checked(text, starts, until, closed, _author(by), datetime.now(timezone.utc))
    except NoticeError as exc:
        typer.echo(f"ivr notice on: {exc}", err=True)
        raise typer.Exit(2) from None

    async def add(s: Store) -> Notice:
        notice_id = await s.add_notice(asked.text, asked.starts_at, asked.ends_at, asked.closes, asked.by)
        return next(n for n in await s.notices() if n.id == notice_id)
    notice = asyncio.run(_with_store(_store_location(store), add))
    typer.echo(json.dumps(notice.as_dict(), ensure_ascii=False))


@app.command("off")
def notice_off(notice_id: int = typer.Argument(..., metavar="ID"), by: Optional[str] = _BY,
               store: Optional[str] = _STORE) -> None:
    """Switch a notice off (every node stops playing it within seconds)."""
    author = _author(by)
    ended = asyncio.run(_with_store(_store_location(store), lambda s: s.end_notice(notice_id, author)))
    if not ended:
        typer.echo(f"ivr notice off: no notice {notice_id} is on", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps({"ok": True, "id": notice_id}))


@app.command("list")
def notice_list(store: Optional[str] = _STORE) -> None:
    """The notices, newest first, one JSON object per line (``live``: the one callers hear now)."""
    from ..notices import live_notice

    notices = asyncio.run(_with_store(_store_location(store), lambda s: s.notices()))
    live = live_notice(notices, datetime.now(timezone.utc))
    for n in notices:
        typer.echo(json.dumps({**n.as_dict(), "live": live is not None and n.id == live.id}, ensure_ascii=False))
