"""The console's routes for the line's versions, the draft and the audit trail (issue 31), over the
server's :class:`~ivr.admin.status.LineDesk`.

``/versions`` (list; ``/versions/{n}`` one with what it changed; ``/versions/{n}/files/{name}`` a file;
``/versions/{a}/diff/{b}``), ``POST /versions/{n}/rollback`` (publisher), ``/drafts`` (editor: edit one
file of the live configuration or upload one, check it, see what it changes, preview it on the last
recorded calls; publish needs a publisher), ``/audit`` (``?format=csv|json`` to export). JSON for machines, HTML for a browser.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

from ..versions.model import SOURCE_NAMES, AuditEntry, Role, audit_csv
from . import line_pages
from .answers import fields, html, wants_html
from .signin import Principal
from .status import LineDesk, ServerStatus

__all__ = ["LineRoutes", "PRINCIPAL", "principal_of", "actor_of", "origin_of"]

#: Where the access middleware leaves who is asking (read with :func:`principal_of`).
PRINCIPAL = web.RequestKey("principal", Principal)
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
#: The most audit entries an export holds.
_EXPORT = 10_000
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def origin_of(request: web.Request) -> str:
    """From where, for the audit: the peer's address (a proxy's, behind one)."""
    return f"web {request.remote or '?'}"


def principal_of(request: web.Request) -> Principal:
    """Who is asking (the access middleware found out)."""
    return request[PRINCIPAL]


def actor_of(request: web.Request, given: object = "") -> str:
    """Who, for the audit: the signed-in user; with the token or on the open local console, the name the
    form gives (else ``token`` / ``local``)."""
    principal = principal_of(request)
    if principal.via == "session":
        return principal.name
    text = " ".join(str(given or "").split())
    return text if _NAME.fullmatch(text) else principal.name


def _number(request: web.Request, key: str = "n") -> int:
    return int(request.match_info[key])


class LineRoutes:
    """The routes above, with the role each needs."""

    def __init__(self, desk: LineDesk, status: ServerStatus, brand: str,
                 refused: Callable[[Principal, web.Request, Role], Awaitable[None]]) -> None:
        self.desk = desk
        self.status = status
        self.brand = brand
        #: Keeps in the audit trail what someone's role did not allow.
        self.refused = refused

    def routes(self) -> Iterator[tuple[str, str, Handler, Role]]:
        """``(method, path, handler, role needed)`` for each route."""
        viewer, editor, publisher = Role.VIEWER, Role.EDITOR, Role.PUBLISHER
        yield "GET", "/versions", self.versions, viewer
        yield "GET", "/versions/{n:[0-9]{1,9}}", self.version, viewer
        yield "GET", "/versions/{n:[0-9]{1,9}}/files/{name:.+}", self.file, viewer
        yield "GET", "/versions/{n:[0-9]{1,9}}/diff/{m:[0-9]{1,9}}", self.diff, viewer
        yield "POST", "/versions/{n:[0-9]{1,9}}/rollback", self.rollback, publisher
        yield "GET", "/drafts", self.draft, editor
        yield "POST", "/drafts", self.draft_action, editor
        yield "GET", "/audit", self.audit, viewer

    async def versions(self, request: web.Request, error: str = "") -> web.Response:
        """``GET /versions``: the published versions, the live one first."""
        versions = await self.desk.versions(100)
        if wants_html(request):
            serving = self.status.flows()["line"]
            may = principal_of(request).may(Role.PUBLISHER)
            return html(line_pages.versions_page(versions, serving=serving, may_publish=may, error=error,
                                                  brand=self.brand), status=422 if error else 200)
        return web.json_response({"versions": [v.summary() for v in versions],
                                  "live": versions[0].number if versions else None})

    async def version(self, request: web.Request) -> web.Response:
        """``GET /versions/{n}``: one version, its files, and what it changed from the one before."""
        number = _number(request)
        version = await self.desk.version(number)
        if version is None:
            return web.json_response({"error": f"no version {number}"}, status=404)
        older = [v.number for v in await self.desk.versions(1000) if v.number < number]
        previous = await self.desk.version(older[0]) if older else None
        from ..versions.diff import diff_texts

        changes = diff_texts(previous.texts if previous else {}, version.texts)
        if wants_html(request):
            return html(line_pages.version_page(version, changes, previous.number if previous else None, self.brand))
        return web.json_response({**version.summary(), "files": sorted(version.texts),
                                  "previous": previous.number if previous else None,
                                  "changes": [c.as_dict() for c in changes]})

    async def file(self, request: web.Request) -> web.Response:
        """``GET /versions/{n}/files/{name}``: one file of a version, as text."""
        version = await self.desk.version(_number(request))
        name = request.match_info["name"]
        if version is None or name not in version.texts:
            return web.json_response({"error": "no such version or file"}, status=404)
        return web.Response(text=version.texts[name], content_type="text/plain", charset="utf-8")

    async def diff(self, request: web.Request) -> web.Response:
        """``GET /versions/{a}/diff/{b}``: what changed from version a to version b."""
        from ..versions.diff import diff_texts

        a, b = await self.desk.version(_number(request)), await self.desk.version(_number(request, "m"))
        if a is None or b is None:
            return web.json_response({"error": "no such version"}, status=404)
        return web.json_response({"from": a.number, "to": b.number,
                                  "changes": [c.as_dict() for c in diff_texts(a.texts, b.texts)]})

    async def rollback(self, request: web.Request) -> web.Response:
        """``POST /versions/{n}/rollback`` (comment, by): make version n's files live again."""
        form = await fields(request)
        done = await self.desk.rollback(_number(request), author=actor_of(request, form.get("by")),
                                        comment=str(form.get("comment", "")), origin=origin_of(request))
        if wants_html(request):
            if not done.ok:
                return await self.versions(request, error="; ".join(done.errors))
            raise web.HTTPSeeOther("/versions")
        return web.json_response(_publication(done), status=200 if done.ok else 422)

    async def draft(self, request: web.Request) -> web.Response:
        """``GET /drafts``: the draft form, on the live configuration's file ``?file=`` (the flow by default)."""
        live = await self.desk.live_texts()
        chosen = request.query.get("file", "")
        if chosen not in live:
            chosen = next((name for name in sorted(live) if name.startswith("flows/")), next(iter(sorted(live)), ""))
        return html(self._draft_page(request, live, chosen, live.get(chosen, "")))

    async def draft_action(self, request: web.Request) -> web.Response:
        """``POST /drafts``: open another file, check, upload, or publish the draft. From a script, JSON:
        ``{"files": {name: text}, "action": "check"|"publish", "comment": …}`` (the files replace the live
        version's)."""
        live = await self.desk.live_texts()
        form = await fields(request)
        action = str(form.get("action", "check"))
        if request.content_type == "application/json":
            given = form.get("files")
            files: dict[str, Any] = given if isinstance(given, dict) else {}
            return await self._json_draft(request, {**live, **{str(k): str(v) for k, v in files.items()}}, action, form)
        chosen, text = str(form.get("file", "")), str(form.get("text", ""))
        upload = form.get("upload")
        if action == "upload":
            if not isinstance(upload, web.FileField) or not upload.filename:
                return html(self._draft_page(request, live, chosen, text, errors=["choose a file to send"]), 422)
            chosen = _uploaded_name(upload.filename)
            raw = upload.file.read(1_000_001)
            if len(raw) > 1_000_000:
                return html(self._draft_page(request, live, chosen, "", errors=[f"{chosen}: larger than 1 MB"]), 413)
            text = raw.decode("utf-8", "replace")
        if not SOURCE_NAMES.fullmatch(chosen):
            return html(self._draft_page(request, live, "", text, errors=[f"not a file of the line: {chosen[:80]!r}"]), 422)
        if action == "open":
            return html(self._draft_page(request, live, chosen, live.get(chosen, "")))
        draft = {**live, chosen: text.replace("\r\n", "\n")}
        if action == "publish":
            if not principal_of(request).may(Role.PUBLISHER):
                await self.refused(principal_of(request), request, Role.PUBLISHER)
                return html(line_pages.forbidden_page(principal_of(request).role.value, "publisher", self.brand), 403)
            done = await self.desk.publish(draft, author=actor_of(request, form.get("by")),
                                           comment=str(form.get("comment", "")), origin=origin_of(request))
            if done.ok:
                raise web.HTTPSeeOther(f"/versions/{done.version.number}" if done.version else "/versions")
            return html(self._draft_page(request, live, chosen, draft[chosen], errors=done.errors,
                                          changes=await self.desk.diff(draft)), 422)
        if action == "preview":
            calls = _count(form.get("calls"))
            errors, report = await self.desk.preview(draft, calls=calls, since=None, author=actor_of(request),
                                                     origin=origin_of(request))
            return html(self._draft_page(request, live, chosen, draft[chosen], errors=errors,
                                         changes=await self.desk.diff(draft), calls=calls,
                                         report=report.as_dict() if report else None), 422 if errors else 200)
        errors, warnings = await self.desk.check(draft)
        return html(self._draft_page(request, live, chosen, draft[chosen], errors=errors, warnings=warnings,
                                      changes=await self.desk.diff(draft), checked=True), 422 if errors else 200)

    async def _json_draft(self, request: web.Request, draft: dict[str, str], action: str,
                          form: Mapping[str, Any]) -> web.Response:
        bad = [name for name in draft if not SOURCE_NAMES.fullmatch(name)]
        if bad:
            return web.json_response({"errors": [f"not a file of the line: {bad[0][:80]!r}"]}, status=422)
        if action == "publish":
            if not principal_of(request).may(Role.PUBLISHER):
                await self.refused(principal_of(request), request, Role.PUBLISHER)
                return web.json_response({"error": "publishing needs the publisher role"}, status=403)
            done = await self.desk.publish(draft, author=actor_of(request, form.get("by")),
                                           comment=str(form.get("comment", "")), origin=origin_of(request))
            return web.json_response(_publication(done), status=200 if done.ok else 422)
        if action == "preview":
            errors, report = await self.desk.preview(draft, calls=_count(form.get("calls")), since=None,
                                                     author=actor_of(request), origin=origin_of(request))
            return web.json_response({"ok": not errors, "errors": errors, "preview": report.as_dict() if report else None},
                                     status=200 if not errors else 422)
        errors, warnings = await self.desk.check(draft)
        return web.json_response({"ok": not errors, "errors": errors, "warnings": warnings,
                                  "changes": [c.as_dict() for c in await self.desk.diff(draft)]},
                                 status=200 if not errors else 422)

    def _draft_page(self, request: web.Request, live: Mapping[str, str], chosen: str, text: str, **result: Any) -> str:
        return line_pages.draft_page(files=sorted(set(live) | ({chosen} if chosen else set())), chosen=chosen,
                                     text=text, may_publish=principal_of(request).may(Role.PUBLISHER), brand=self.brand,
                                     **result)

    async def audit(self, request: web.Request) -> web.Response:
        """``GET /audit``: the audit trail (``?before=ID`` pages back; ``?format=csv|json`` exports the last
        10,000 entries)."""
        fmt = request.query.get("format", "")
        before = request.query.get("before", "")
        before_id = int(before) if before.isdigit() and len(before) < 18 else None
        if fmt in ("csv", "json") or not wants_html(request):
            entries = await self.desk.audit(_EXPORT, before_id)
            if fmt == "csv":
                return web.Response(text=audit_csv(entries), content_type="text/csv", charset="utf-8",
                                    headers={"Content-Disposition": "attachment; filename=\"journal-3400.csv\""})
            return web.json_response({"entries": [entry.as_dict() for entry in entries]})
        page: list[AuditEntry] = await self.desk.audit(100, before_id)
        return html(line_pages.audit_page(page, before=before_id, brand=self.brand))


def _count(given: object, default: int = 500) -> int:
    """How many recorded calls a preview replays (1 to 5,000)."""
    text = str(given or "").strip()
    return min(max(int(text), 1), 5000) if text.isdigit() and len(text) < 7 else default


def _publication(done: Any) -> dict[str, Any]:
    return {"ok": done.ok, "unchanged": done.unchanged, "errors": list(done.errors),
            "version": done.version.summary() if done.version else None}


def _uploaded_name(filename: str) -> str:
    """Where an uploaded file goes in the draft: the rules, the catalog, else a flow file of that name."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return base if base in ("rules.yaml", "catalog.yaml") else f"flows/{base}"

