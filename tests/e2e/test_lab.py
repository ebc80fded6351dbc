"""Asterisk 22 starts on the product's own configuration, changed only where one host differs from another."""

from __future__ import annotations

import re

from ivr.lab.config import ETC_DIR, HOST_OPTIONS, fill_placeholders, read_sections


def test_only_the_products_files_with_only_host_options_changed(lab, tmp_path):
    # The lab runs the test profile: the product's files and test/ (test phones, the 3499 entry).
    product_files = sorted(str(p.relative_to(ETC_DIR)) for p in ETC_DIR.rglob("*.conf"))
    assert sorted(str(p.relative_to(lab.etc)) for p in lab.etc.rglob("*") if p.is_file()) == product_files
    fill_placeholders(tmp_path, lab.asterisk_env())  # what the container's entrypoint writes
    changed = set()
    for name in product_files:
        filled = read_sections((tmp_path / name).read_text())
        running = read_sections((lab.etc / name).read_text())
        assert "@@" not in (lab.etc / name).read_text()
        for key in set(filled) | set(running):
            if filled.get(key) != running.get(key):
                changed.add((name, *key))
    assert changed <= HOST_OPTIONS, f"changed beyond what a host sets: {sorted(changed - HOST_OPTIONS)}"
    assert ("extensions.conf", "globals", "IVR_AGI_PORT") in changed


def test_every_listed_module_runs_and_the_log_has_no_error_since_start(lab):
    wanted = re.findall(r"^load\s*=>\s*(\S+)", (ETC_DIR / "modules.conf").read_text(), flags=re.M)
    shown = lab.asterisk.cli("module show").stdout
    running = {line.split()[0] for line in shown.splitlines() if " Running" in line}
    assert set(wanted) - running == set()
    assert lab.asterisk.log_lines(0) == []
    # The IVR's controller logged in with the product's manager.conf user (its secret holds ; & |).
    assert lab.admin_get("/readyz")["checks"]["ami"] == "connected"
    assert lab.asterisk.cli("pjsip show endpoint tester").returncode == 0
