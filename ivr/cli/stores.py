"""The store the servers share, as the CLI opens it (``--store``, else ``IVR_STORE`` as for ``ivr serve``),
and who the person at the keyboard is for the audit trail."""

from __future__ import annotations

import asyncio
import getpass
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Optional, TypeVar

import typer

if TYPE_CHECKING:
    from ..store import Store

T = TypeVar("T")

__all__ = ["STORE_OPTION", "BY_OPTION", "store_location", "with_store", "run_with_store", "author", "cli_origin"]

STORE_OPTION = typer.Option(None, "--store", metavar="FILE|URL", help="The store (default: IVR_STORE, as ivr serve).")
BY_OPTION = typer.Option(None, "--by", metavar="NAME", help="Who does it, for the audit (default: your login).")


def store_location(store: Optional[str]) -> str:
    """``--store`` if given, else the servers' ``IVR_STORE``."""
    from ..config import Settings

    return store or Settings().store


async def with_store(location: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store, do ``work`` with it, close it."""
    from ..store import make_store

    store = make_store(location)
    await store.open()
    try:
        return await work(store)
    finally:
        await store.close()


def run_with_store(store: Optional[str], work: Callable[[Store], Awaitable[T]]) -> T:
    """:func:`with_store` from a command (``--store`` or ``IVR_STORE``)."""
    return asyncio.run(with_store(store_location(store), work))


def author(by: Optional[str], command: str) -> str:
    """Who does it: ``--by``, else the login (a clear error for a name the audit could not show)."""
    from ..notices import NoticeError, checked_author

    try:
        return checked_author(by or getpass.getuser())
    except NoticeError as exc:
        typer.echo(f"{command}: {exc}", err=True)
        raise typer.Exit(2) from None


def cli_origin() -> str:
    """Where a CLI action comes from, for the audit: ``cli@<host>``."""
    return f"cli@{socket.gethostname()}"
