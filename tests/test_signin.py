"""Signing in to the console (issue 31, item 5), and the draft, versions and audit pages behind it:
sessions in HttpOnly SameSite=Strict cookies, a form token in every form, the lock-out, roles (viewer,
editor, publisher), the token for machines, every step in the audit trail."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from yarl import URL

from ivr.server.embedded import embedded_server
from ivr.versions.access import LockOut, hash_password
from ivr.waiting import until
from tests.browser import Chromium, chromium_path
from tests.test_versions import SHORT_WELCOME, WELCOME, heard

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "un mot de passe solide"
HTML = {"Accept": "text/html"}


async def with_users(srv, **roles: str) -> None:
    hashed = hash_password(PASSWORD)
    for name, role in roles.items():
        await srv.store.save_user(name, hashed, role)


class Browser:
    """A test double of a browser: keeps the console's cookie, reads each page's form token, submits forms."""

    def __init__(self, srv) -> None:
        self.base = f"http://127.0.0.1:{srv.admin.bound_port}"
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.http.close()

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(self.base + path, headers=HTML, allow_redirects=True) as resp:
            text = await resp.text()
            found = re.search(r"name='csrf' value='([^']+)'", text)
            self.csrf = found.group(1) if found else self.csrf
            return resp.status, text

    async def post(self, path: str, fields: dict, *, token: bool = True) -> tuple[int, str, str]:
        data = {**fields, **({"csrf": self.csrf} if token else {})}
        async with self.http.post(self.base + path, data=data, headers=HTML, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")

    async def sign_in(self, name: str, password: str = PASSWORD) -> tuple[int, str, str]:
        return await self.post("/login", {"name": name, "password": password, "next": "/versions"}, token=False)


async def test_a_browser_signs_in_with_a_cookie_no_script_can_read_and_every_form_carries_its_token():
    async with embedded_server() as srv:
        await with_users(srv, claire="viewer")
        async with Browser(srv) as browser:
            status, page = await browser.get("/kpis")
            assert status == 200 and "<form method='post' action='/login'" in page  # sent to the sign-in page
            async with browser.http.get(browser.base + "/kpis") as resp:  # a script without a session
                assert resp.status == 401
            status, _, where = await browser.sign_in("claire", "pas le bon mot de passe")
            assert status == 401
            status, _, where = await browser.sign_in("claire")
            assert (status, where) == (303, "/versions")
            async with browser.http.post(browser.base + "/login", data={"name": "claire", "password": PASSWORD},
                                         allow_redirects=False) as resp:
                cookie = resp.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
            status, page = await browser.get("/kpis")
            assert status == 200 and "Indicateurs" in page and browser.csrf
            assert page.count("name='csrf'") == page.count("<form method='post'") >= 1
            # A form posted with the session but without its token is refused (a forged form on another page).
            status, body, _ = await browser.post("/logout", {}, token=False)
            assert status == 403 and "token" in body
            status, _, where = await browser.post("/logout", {})
            assert (status, where) == (303, "/login")
            status, page = await browser.get("/kpis")
            assert "action='/login'" in page  # the session is over
        actions = [(e.actor, e.action, e.origin) for e in reversed(await srv.store.audit())]
        assert ("claire", "sign_in_failed", "web 127.0.0.1") in actions and ("claire", "sign_in", "web 127.0.0.1") in actions
        assert ("claire", "sign_out", "web 127.0.0.1") in actions
        assert srv.store.session  # (sessions live in the store: every node behind a balancer knows them)


async def test_repeated_failures_lock_the_account_even_for_the_right_password_and_say_no_more():
    async with embedded_server() as srv:
        await with_users(srv, claire="viewer")
        srv.admin.signin.identity.lockout = LockOut(failures=3, seconds=600)
        async with Browser(srv) as browser:
            for _ in range(3):
                assert (await browser.sign_in("claire", "mauvais"))[0] == 401
            status, page, _ = await browser.sign_in("claire")
            assert status == 401 and "Identifiant ou mot de passe incorrect" in page
            # A name that is no user gets the same answer.
            assert (await browser.sign_in("personne"))[1] == page
            # Whatever is typed as a name, the trail keeps only what could be a user's name.
            await browser.sign_in("=cmd|' /C calc'!A0\x1b[31m")
        trail = [(e.actor, e.target) for e in await srv.store.audit() if e.action == "sign_in_failed"]
        assert trail[0] == ("(not a user name)", "user (not a user name)") and ("claire", "user claire") in trail
        assert (await srv.store.user("claire")).failures == 4


async def test_roles_allow_what_each_may_do_and_the_token_still_serves_machines():
    async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
        await with_users(srv, vera="viewer", eddie="editor", paula="publisher")
        async with Browser(srv) as viewer, Browser(srv) as editor, Browser(srv) as publisher:
            for browser, name in ((viewer, "vera"), (editor, "eddie"), (publisher, "paula")):
                assert (await browser.sign_in(name))[0] == 303
            assert (await viewer.get("/calls"))[0] == 200
            status, page = await viewer.get("/drafts")
            assert status == 403 and "editor" in page
            assert (await editor.get("/drafts"))[0] == 200
            await editor.get("/flows")
            assert (await editor.post("/flows/reload", {}))[0] == 403
            await publisher.get("/flows")
            assert (await publisher.post("/flows/reload", {}))[0] == 303
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{srv.admin.bound_port}/kpis",
                                headers={"Authorization": "Bearer t0ken"}) as resp:
                assert resp.status == 200
        [reload] = [e for e in await srv.store.audit() if e.action == "reload"][:1]
        assert reload.actor == "paula"


async def test_an_editor_checks_a_draft_a_publisher_publishes_it_rolls_back_and_the_trail_shows_every_step(tmp_path):
    async with embedded_server(version_poll=0.05) as srv:
        await with_users(srv, eddie="editor", paula="publisher")
        flow = (ROOT / "ivr" / "flows" / "ants-3400.yaml").read_text(encoding="utf-8")
        async with Browser(srv) as editor, Browser(srv) as publisher:
            await editor.sign_in("eddie")
            status, page = await editor.get("/drafts")
            assert status == 200 and "flows/ants-3400.yaml" in page and "protection_donnees" in page
            # A mistake: a node sent to a step that does not exist; the error names the file and line.
            broken = flow.replace("    next: annonce", "    next: anonce", 1)
            status, page, _ = await editor.post("/drafts", {"file": "flows/ants-3400.yaml", "text": broken,
                                                             "action": "check"})
            line = broken.splitlines().index("    next: anonce") + 1
            assert status == 422 and f"flows/ants-3400.yaml:{line}:" in page and "annonce" in page
            fixed = flow.replace(WELCOME, SHORT_WELCOME, 1)
            status, page, _ = await editor.post("/drafts", {"file": "flows/ants-3400.yaml", "text": fixed,
                                                             "action": "check"})
            assert status == 200 and "Le brouillon est valide" in page and "node accueil" in page
            status, page, _ = await editor.post("/drafts", {"file": "flows/ants-3400.yaml", "text": fixed,
                                                             "action": "publish", "comment": "accueil court"})
            assert status == 403 and await srv.store.live_version() is None
            await publisher.sign_in("paula")
            await publisher.get("/drafts")
            status, _, where = await publisher.post("/drafts", {"file": "flows/ants-3400.yaml", "text": fixed,
                                                                 "action": "publish", "comment": "accueil court"})
            assert (status, where) == (303, "/versions/1")
            await until(lambda: srv.line_state.published == 1, "the node serving version 1")
            assert "protection_donnees" not in await heard(srv)
            status, page = await publisher.get("/versions/1")
            assert status == 200 and "accueil court" in page and "Première version" in page
            # Back to the files as shipped (version 2), then back to version 1 with the button.
            status, _, _ = await publisher.post("/drafts", {"file": "flows/ants-3400.yaml", "text": flow,
                                                            "action": "publish", "comment": "accueil complet"})
            await until(lambda: srv.line_state.published == 2, "the node serving version 2")
            await publisher.get("/versions")
            status, _, where = await publisher.post("/versions/1/rollback", {})
            assert (status, where) == (303, "/versions")
            await until(lambda: srv.line_state.published == 3, "the node serving the rollback")
            status, page = await publisher.get("/versions/3")  # what the rollback changed from version 2
            assert "node accueil" in page and "protection_donnees" in page and "reprend la version 1" in page
            assert "protection_donnees" not in await heard(srv)
            status, page = await editor.get("/audit")
            assert status == 200 and "connexion" in page and "retour arrière" in page
            async with editor.http.get(editor.base + "/audit?format=csv") as resp:
                csv = await resp.text()
        steps = [(row.split(",")[2], row.split(",")[3]) for row in reversed(csv.splitlines()[1:])]
        people = [step for step in steps if not step[0].startswith("node ")]
        assert people == [("eddie", "sign_in"), ("eddie", "forbidden"), ("paula", "sign_in"), ("paula", "publish"),
                          ("paula", "publish"), ("paula", "rollback")]
        assert steps.count((f"node {srv.node}", "applied")) == 3


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\\\evil"])
async def test_after_signing_in_a_browser_is_never_sent_to_another_site(target):
    async with embedded_server() as srv:
        await with_users(srv, claire="viewer")
        async with Browser(srv) as browser:
            status, _, where = await browser.post("/login", {"name": "claire", "password": PASSWORD, "next": target},
                                                  token=False)
            assert (status, where) == (303, "/")


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium (apt-get install chromium; scripts/setup does it)")
async def test_the_administrators_pages_in_a_real_browser():
    """Headless Chromium signed in as a publisher: the versions, a version's changes, the draft and the
    audit trail load with no script error nor Content-Security-Policy violation (screenshots in
    var/screenshots/, copies in docs/console/)."""
    async with embedded_server(version_poll=0.05) as srv:
        await with_users(srv, paula="publisher")
        flow = (ROOT / "ivr" / "flows" / "ants-3400.yaml").read_text(encoding="utf-8")
        async with Browser(srv) as browser:
            await browser.sign_in("paula")
            for text, comment in ((flow, "version livrée"), (flow.replace(WELCOME, SHORT_WELCOME, 1), "accueil court")):
                await browser.get("/drafts")
                await browser.post("/drafts", {"file": "flows/ants-3400.yaml", "text": text, "action": "publish",
                                               "comment": comment})
            await until(lambda: srv.line_state.published == 2, "the node serving version 2")
            session = browser.http.cookie_jar.filter_cookies(URL(browser.base))["ivr_session"].value
        seen = {}
        async with Chromium() as chromium:
            for name, path, needle in (("login", "/login", "Mot de passe"), ("versions", "/versions", "accueil court"),
                                       ("version", "/versions/2", "node accueil"),
                                       ("draft", "/drafts", "Vérifier"), ("audit", "/audit", "publication")):
                visit, seen[name] = await chromium.visit(
                    srv.admin_url + path, screenshot=SCREENSHOTS / f"{name}.png",
                    headers={"Cookie": f"ivr_session={session}"}, evaluate={"text": "document.body.innerText"})
                assert visit.errors == [] and visit.status == 200, (name, visit.errors)
                assert needle in seen[name]["text"], name


async def test_a_form_from_a_browser_that_hides_its_origin_is_taken_only_when_it_says_same_origin():
    async with embedded_server() as srv:
        await with_users(srv, claire="viewer")
        login = f"http://127.0.0.1:{srv.admin.bound_port}/login"
        fields = {"name": "claire", "password": PASSWORD}
        async with aiohttp.ClientSession() as http:
            for headers, expected in (({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, 303),
                                      ({"Origin": "null"}, 403),
                                      ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, 403),
                                      ({"Origin": "http://evil.example"}, 403)):
                async with http.post(login, data=fields, headers=headers, allow_redirects=False) as resp:
                    assert resp.status == expected, headers
                    if expected == 403:
                        assert "cross-site" in await resp.text()
