"""Published versions of the line (issue 31): what changed between two, node by node; publish and roll
back through the store with the audit trail; a node serving the live version to new calls and leaving
files on disk as drafts; the CLI an administrator runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ivr.cli.main import app
from ivr.server.embedded import embedded_server
from ivr.server.publishing import publish, rollback
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.versions.diff import diff_texts
from ivr.versions.model import AuditAction, content_hash
from ivr.waiting import until
from tests.clocks import OPEN
from tests.test_store_schema import either_store  # noqa: F401 (the fixture)

ROOT = Path(__file__).resolve().parent.parent
FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"
#: The welcome as shipped, and as an administrator's edit shortens it.
WELCOME = "    prompts: [bienvenue, protection_donnees]"
SHORT_WELCOME = "    prompts: [bienvenue]"


def shipped() -> dict[str, str]:
    return {"flows/ants-3400.yaml": FLOW.read_text(encoding="utf-8"),
            "rules.yaml": (ROOT / "ivr" / "ants3400" / "rules.yaml").read_text(encoding="utf-8"),
            "catalog.yaml": (ROOT / "ivr" / "prompts" / "catalog.yaml").read_text(encoding="utf-8")}


def edited(texts: dict[str, str], old: str, new: str) -> dict[str, str]:
    flow = texts["flows/ants-3400.yaml"]
    assert old in flow
    return {**texts, "flows/ants-3400.yaml": flow.replace(old, new, 1)}


# -- what changed -----------------------------------------------------------------------------------


def test_a_diff_names_the_node_and_the_field_that_changed_not_the_lines():
    before = shipped()
    after = edited(edited(before, WELCOME, SHORT_WELCOME), "  retries: 3", "  retries: 2")
    after["rules.yaml"] = after["rules.yaml"].replace("wait_above: 600", "wait_above: 300")
    after["catalog.yaml"] = after["catalog.yaml"].replace("Bienvenue au service", "Bonjour et bienvenue au service")
    changes = {(c.file, c.part, c.field): (c.before, c.after) for c in diff_texts(before, after)}
    assert changes[("flows/ants-3400.yaml", "node accueil", "prompts")] == (
        '["bienvenue", "protection_donnees"]', '["bienvenue"]')
    assert changes[("flows/ants-3400.yaml", "", "defaults.retries")] == ("3", "2")
    assert changes[("rules.yaml", "overflow #1", "wait_above")] == ("600", "300")
    assert changes[("catalog.yaml", "prompt bienvenue", "(value)")][1].startswith("Bonjour et bienvenue")
    assert len(changes) == 4


def test_a_diff_shows_nodes_added_and_removed_and_falls_back_to_text_for_broken_yaml():
    before = shipped()
    flow = before["flows/ants-3400.yaml"]
    added = {**before, "flows/ants-3400.yaml": flow + "\n  extra:\n    kind: hangup\n    outcome: self_served\n"}
    [change] = diff_texts(before, added)
    assert (change.part, change.kind) == ("node extra", "added")
    broken = {**before, "flows/ants-3400.yaml": "nodes: ["}
    [text] = diff_texts(before, broken)
    assert (text.field, text.after) == ("(text)", "nodes: [")
    assert diff_texts(before, dict(before)) == []


# -- the store, publish and rollback --------------------------------------------------------------


async def test_both_stores_number_versions_keep_an_append_only_trail_and_users(either_store):  # noqa: F811
    store = either_store
    assert await store.live_version() is None
    first = await store.add_version({"rules.yaml": "a"}, "h1", "alice", "première", "publish")
    second = await store.add_version({"rules.yaml": "b"}, "h2", "bob", "seconde", "publish")
    assert (first.number, second.number) == (1, 2) and (await store.live_version()).hash == "h2"
    assert (await store.version(1)).texts == {"rules.yaml": "a"} and await store.version(9) is None
    assert [v.number for v in await store.versions()] == [2, 1]
    for n in range(3):
        await store.add_audit("alice", "publish", f"version {n}", "cli@vm", {"n": n})
    trail = await store.audit(2)
    assert [e.detail["n"] for e in trail] == [2, 1] and trail[0].actor == "alice"
    assert [e.detail["n"] for e in await store.audit(5, before_id=trail[1].id)] == [0]
    # Users: a role, failures that lock, a sign-in that forgets them; sessions end with their user.
    await store.save_user("alice", "hash-a", "editor")
    assert await store.sign_in_failed("alice", lambda n: 60.0 if n >= 2 else 0.0) == 1
    assert (await store.user("alice")).locked_until is None
    assert await store.sign_in_failed("alice", lambda n: 60.0 if n >= 2 else 0.0) == 2
    assert (await store.user("alice")).locked_until is not None
    assert await store.sign_in_failed("nobody", lambda n: 60.0) == 0
    await store.signed_in("alice")
    assert ((await store.user("alice")).failures, (await store.user("alice")).locked_until) == (0, None)
    import time

    await store.add_session("k1", "alice", "csrf1", time.time() + 60)
    await store.add_session("k0", "alice", "csrf0", time.time() - 1)
    session = await store.session("k1")
    assert (session.user.name, session.user.role.value, session.csrf) == ("alice", "editor", "csrf1")
    assert await store.session("k0") is None  # expired
    assert await store.remove_user("alice") and await store.session("k1") is None


class ShippedChecker:
    """A test double of :class:`ivr.server.publishing.DraftChecker`: accepts what has a flow file, with the
    texts' hash, as a real check of a good configuration does."""

    async def __call__(self, texts):
        from types import SimpleNamespace

        if "nodes: [" in texts.get("flows/ants-3400.yaml", ""):
            return None, ["flows/ants-3400.yaml:1: invalid YAML"]
        return SimpleNamespace(texts=dict(texts), version=content_hash(texts), flows={"ants-3400": None}), []


async def test_a_publish_is_kept_once_a_rejected_one_is_audited_and_a_rollback_is_a_new_number(tmp_path):
    from ivr.store.sqlite import SqliteStore

    check = ShippedChecker()
    store = await SqliteStore(tmp_path / "s.sqlite").open()
    try:
        good = shipped()
        done = await publish(store, await check(good), author="alice", comment="première", origin="cli@vm")
        assert done.ok and done.version.number == 1
        again = await publish(store, await check(good), author="alice", comment="la même", origin="cli@vm")
        assert again.unchanged and [v.number for v in await store.versions()] == [1]
        broken = edited(good, "nodes:", "nodes: [")
        refused = await publish(store, await check(broken), author="bob", comment="cassé", origin="cli@vm")
        assert not refused.ok and refused.errors == ["flows/ants-3400.yaml:1: invalid YAML"]
        no_comment = await publish(store, await check(edited(good, WELCOME, SHORT_WELCOME)), author="bob",
                                   comment="  ", origin="cli@vm")
        assert not no_comment.ok and "comment is required" in no_comment.errors[0]
        second = await publish(store, await check(edited(good, WELCOME, SHORT_WELCOME)), author="bob",
                               comment="accueil plus court", origin="cli@vm")
        back = await rollback(store, 1, check, author="carol", comment="", origin="cli@vm")
        assert (back.version.number, back.version.restores, back.version.hash) == (3, 1, done.version.hash)
        assert back.version.comment == "retour à la version 1" and second.version.number == 2
        assert not (await rollback(store, 42, check, author="carol", comment="", origin="cli@vm")).ok
        actions = [(e.actor, e.action) for e in reversed(await store.audit())]
        assert actions == [("alice", "publish"), ("bob", "publish_rejected"), ("bob", "publish_rejected"),
                           ("bob", "publish"), ("carol", "rollback"), ("carol", "rollback_rejected")]
    finally:
        await store.close()


# -- a node follows the live version ----------------------------------------------------------------


def welcome_only() -> Scenario:
    """A caller who asks for an agent at the first question (the welcome they heard tells the version)."""
    return Scenario.model_validate({"name": "accueil", "call": {"at": OPEN, "caller": "0611223344"},
                                    "steps": [{"kind": "press", "digits": "0"}]})


async def heard(srv) -> list[str]:
    [result] = await run_scenarios([welcome_only()], "127.0.0.1", srv.agi_port, records=srv.memory_records)
    return result.trace.channel.prompts


async def test_a_node_serves_the_live_version_to_new_calls_and_treats_files_on_disk_as_drafts(tmp_path):
    flows = tmp_path / "flows"
    flows.mkdir()
    shutil.copy(FLOW, flows / FLOW.name)
    async with embedded_server(flows_dir=flows, version_poll=0.05) as srv:
        assert srv.line_state.serving.value == "files" and "protection_donnees" in await heard(srv)
        checked = await srv.draft_checker()(edited(shipped(), WELCOME, SHORT_WELCOME))
        done = await publish(srv.store, checked, author="alice", comment="accueil plus court", origin="test")
        assert done.ok, done.errors
        await until(lambda: srv.line_state.published == done.version.number, "the node serving version 1")
        assert srv.line_state.serving.value == "published version"
        assert "protection_donnees" not in await heard(srv)
        # The files on disk are drafts now: a reload (SIGHUP, the console) reads the live version again.
        (flows / FLOW.name).write_text(FLOW.read_text(encoding="utf-8").replace("retries: 3", "retries: 2"))
        report = await srv.reload_line(actor="alice", origin="test")
        assert report.ok and srv.line_state.published == 1 and "protection_donnees" not in await heard(srv)
        back = await rollback(srv.store, 0 + 1, srv.draft_checker(), author="bob", comment="", origin="test")
        assert back.unchanged  # version 1 is live already
        trail = [(e.actor, e.action) for e in reversed(await srv.store.audit())]
        assert ("alice", "publish") in trail and (f"node {srv.node}", AuditAction.APPLIED) in trail
        assert ("alice", AuditAction.RELOAD) in trail


async def test_a_node_started_after_a_publish_serves_the_live_version_not_the_files(tmp_path):
    from ivr.store.sqlite import SqliteStore

    store = await SqliteStore(tmp_path / "s.sqlite").open()
    texts = edited(shipped(), WELCOME, SHORT_WELCOME)
    await store.add_version(texts, content_hash(texts), "alice", "accueil plus court", "publish")
    await store.close()
    async with embedded_server(store=tmp_path / "s.sqlite") as srv:
        assert (srv.line_state.serving.value, srv.line_state.published) == ("published version", 1)
        assert "protection_donnees" not in await heard(srv)


async def test_a_version_a_node_cannot_serve_leaves_it_on_its_own_and_says_so(tmp_path):
    from ivr.store.sqlite import SqliteStore

    async with embedded_server(version_poll=0.05) as srv:
        bad = edited(shipped(), WELCOME, "    prompts: [bienvenue, invite_inconnue]")
        await srv.store.add_version(bad, content_hash(bad), "mallory", "à la main", "publish")
        await until(lambda: srv.line_state.rejected, "the version rejected")
        assert any("invite_inconnue" in e for e in srv.line_state.rejected)
        assert srv.line_state.serving.value == "files" and "protection_donnees" in await heard(srv)
        [entry] = [e for e in await srv.store.audit() if e.action == AuditAction.APPLIED_REJECTED]
        assert entry.target == "version 1" and entry.actor == f"node {srv.node}"
    assert SqliteStore  # (imported for the type of srv.store)


# -- the CLI ----------------------------------------------------------------------------------------


def test_the_cli_publishes_shows_diffs_rolls_back_and_exports_the_audit_trail(tmp_path, monkeypatch):
    monkeypatch.setenv("IVR_STORE", str(tmp_path / "s.sqlite"))
    runner = CliRunner()
    draft = tmp_path / "draft"
    draft.mkdir()
    shutil.copy(FLOW, draft / FLOW.name)
    first = runner.invoke(app, ["flows", "publish", str(draft), "-m", "première", "--by", "alice"])
    assert first.exit_code == 0 and "version 1" in first.output, first.output
    (draft / FLOW.name).write_text(FLOW.read_text(encoding="utf-8").replace(WELCOME, SHORT_WELCOME))
    second = runner.invoke(app, ["flows", "publish", str(draft), "-m", "accueil court", "--by", "bob"])
    assert "version 2" in second.output
    (draft / FLOW.name).write_text("flow: ants-3400\nnodes: [\n")
    broken = runner.invoke(app, ["flows", "publish", str(draft), "-m", "cassé", "--by", "bob"])
    assert broken.exit_code == 1 and "ants-3400.yaml:" in broken.output and "live version stays" in broken.output
    diff = runner.invoke(app, ["flows", "diff", "1", "2"])
    assert "node accueil  prompts" in diff.output and "1 change(s)" in diff.output
    back = runner.invoke(app, ["flows", "rollback", "1", "--by", "carol"])
    assert back.exit_code == 0 and "version 3" in back.output
    listing = runner.invoke(app, ["flows", "versions"])
    assert listing.output.splitlines()[0].startswith("*    3") and "carol: retour à la version 1" in listing.output
    shown = runner.invoke(app, ["flows", "show", "2", "--file", "flows/ants-3400.yaml"])
    assert SHORT_WELCOME in shown.output
    csv = runner.invoke(app, ["audit", "list", "--format", "csv"])
    rows = csv.output.splitlines()
    assert rows[0] == "id,at_utc,actor,action,target,origin,detail" and len(rows) == 5
    assert [r.split(",")[3] for r in rows[1:]] == ["rollback", "publish_rejected", "publish", "publish"]


def test_the_cli_manages_users_with_roles_and_hashed_passwords(tmp_path, monkeypatch):
    monkeypatch.setenv("IVR_STORE", str(tmp_path / "s.sqlite"))
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "claire", "--role", "editor", "--password-stdin", "--by", "root"],
                          input="un mot de passe solide\n")
    assert added.exit_code == 0, added.output
    assert runner.invoke(app, ["users", "add", "x", "--role", "editor", "--password-stdin"], input="p\n").exit_code == 2
    assert runner.invoke(app, ["users", "add", "marc", "--role", "chef", "--password-stdin"],
                         input="un mot de passe solide\n").exit_code == 2
    assert runner.invoke(app, ["users", "role", "claire", "publisher", "--by", "root"]).exit_code == 0
    assert runner.invoke(app, ["users", "list"]).output.strip() == "claire  publisher"
    import sqlite3

    [(stored,)] = sqlite3.connect(tmp_path / "s.sqlite").execute("SELECT password_hash FROM users").fetchall()
    assert stored.startswith("$argon2id$") and "solide" not in stored
    assert runner.invoke(app, ["users", "remove", "claire", "--by", "root"]).exit_code == 0
    assert runner.invoke(app, ["users", "remove", "claire"]).exit_code == 1


@pytest.mark.parametrize("name", ["A", "x", "../etc", "claire dupont", "é"])
def test_user_names_the_audit_could_not_show_plainly_are_refused(name):
    from ivr.versions.model import checked_user_name

    with pytest.raises(ValueError):
        checked_user_name(name)


def test_the_audit_export_cannot_carry_a_spreadsheet_formula():
    from ivr.versions.model import AuditEntry, audit_csv

    rows = audit_csv([AuditEntry(1, 0.0, "=HYPERLINK(\"http://x\")", "sign_in_failed", "user x", "web 1.2.3.4"),
                      AuditEntry(2, 0.0, "claire", "publish", "version 1", "cli@vm", {"comment": "=1+1"})])
    actor_cell = rows.splitlines()[1].split(",")[2]
    assert actor_cell.startswith("\"'=") and "claire,publish" in rows
