"""Console pages escape what they show by default; the console is named by the line's profile."""

from __future__ import annotations

from ivr.admin.pages import markup, not_found_page, table
from ivr.ants3400.profile import PROFILE
from ivr.server.embedded import embedded_server
from tests.test_admin import get


def test_every_cell_is_escaped_unless_it_was_marked_as_html():
    page = table(["Parcours", "Lien"], [["<script>alert(1)</script>", markup("<a href='/flows/x'>x</a>")]])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "<a href='/flows/x'>x</a>" in page


def test_the_console_is_named_by_the_line_profile():
    assert "<span class='brand'>SVI</span>" in not_found_page("rien")  # a line without a name of its own
    assert "<span class='brand'>Ligne &lt;test&gt;</span>" in not_found_page("rien", "Ligne <test>")


async def test_a_running_line_shows_its_profile_name():
    async with embedded_server() as srv:
        _, page, _ = await get(srv, "/", accept="text/html")
    assert f"<span class='brand'>{PROFILE.console_name}</span>" in page and PROFILE.console_name == "SVI 34 00"


def test_the_flows_page_lists_the_warnings_of_an_accepted_flow_escaped():
    from ivr.admin.kpis import Kpis
    from ivr.admin.pages import flows_page

    kpis = Kpis().summary()
    flow = {"name": "ants-3400", "version": "abc", "description": "", "nodes": 3, "open_now": True, "path": "f.yaml",
            "warnings": ["f.yaml:22: node 'horaires': Etc/GMT-1 is 1 h ahead of UTC <b>"]}
    page = flows_page({"flows": [flow], "line": {"serving": "files", "version": "v", "rejected": []}}, kpis, "SVI")
    assert "À vérifier" in page and "f.yaml:22: node &#x27;horaires&#x27;: Etc/GMT-1 is 1 h ahead of UTC &lt;b&gt;" in page
    quiet = flows_page({"flows": [{**flow, "warnings": []}], "line": {"serving": "files", "version": "v",
                                                                      "rejected": []}}, kpis, "SVI")
    assert "À vérifier" not in quiet
