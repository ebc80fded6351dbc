"""How the console reads a request and answers it: HTML for a browser, JSON for a program."""

from __future__ import annotations

from typing import Any

from aiohttp import web

__all__ = ["wants_html", "html", "fields"]


def wants_html(request: web.Request) -> bool:
    """Whether the asker is a browser (``Accept: text/html``) that did not ask for JSON (``?format=json``)."""
    return "text/html" in request.headers.get("Accept", "") and request.query.get("format") != "json"


def html(page: str, status: int = 200) -> web.Response:
    """A console page."""
    return web.Response(text=page, content_type="text/html", status=status)


async def fields(request: web.Request) -> dict[str, Any]:
    """A request's fields, from a JSON body or a form."""
    if request.content_type == "application/json":
        try:
            data = await request.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    return dict(await request.post())
