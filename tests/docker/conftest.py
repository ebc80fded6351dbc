"""The docker suite: our images built, the line run in containers with the repository's compose file.

Skipped with the reason when no docker engine answers (a laptop without one); `.ci/run` starts one
(scripts/docker-engine). One line serves the whole suite: building it and bringing it up are what take
time. Each test states the flows it needs (:func:`flows_as`), so no test depends on another's edits.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from ivr.waiting import DEADLINE, wait_until
from tests.docker.line import ASTERISK_SRC, BUILD_TIMEOUT, ROOT, ComposeLine, SourceServer, asterisk_build_args, docker_ready

SHIPPED_FLOW = ROOT / "ivr" / "flows" / "ants-3400.yaml"
#: The services of the line (profile test adds only the tester, which runs on demand).
LINE = ["tracking", "ivr", "asterisk"]
FIGURES = ROOT / "var" / "docker" / "figures.jsonl"
#: The host's CA bundle: on these machines it holds the TLS proxy's CA.
HOST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def host_address() -> str:
    """This machine's own address towards the outside (what a phone on the network would dial)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.250", 9))  # no packet is sent: only the route is looked up
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


@dataclass
class RunningLine:
    """The line the suite runs, and what it took to get there."""

    compose: ComposeLine
    flows: Path
    token: str
    host: str
    build_seconds: float
    healthy: dict[str, float]

    @property
    def admin(self) -> str:
        """The IVR's admin API (its address on the line's network, asked anew: a recreated container may
        get another)."""
        return f"http://{self.compose.address('ivr')}:8080"

    def admin_get(self, path: str, base: str | None = None) -> dict:
        request = urllib.request.Request((base or self.admin) + path, headers={"Authorization": f"Bearer {self.token}",
                                                                     "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=DEADLINE) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as error:  # /readyz answers 503 with its checks when degraded
            return json.load(error)

    def report(self, **fields) -> None:
        """One line of figures for the run's reader (var/docker/figures.jsonl)."""
        FIGURES.parent.mkdir(parents=True, exist_ok=True)
        with open(FIGURES, "a", encoding="utf-8") as f:
            f.write(json.dumps(fields, ensure_ascii=False) + "\n")


@pytest.fixture(scope="session")
def docker_line():
    why = docker_ready()
    if why:
        pytest.skip(f"docker suite: {why}")
    work = ROOT / "var" / "docker" / "line"
    shutil.rmtree(work, ignore_errors=True)
    flows = work / "flows"
    shutil.copytree(SHIPPED_FLOW.parent, flows)
    # The IVR (uid 3400 in its container) reads the mounted folder.
    for path in (work.parent.parent, work.parent, work, flows, *flows.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    FIGURES.write_text("")
    env = {"IVR_FLOWS_FOLDER": str(flows), "SIP_EXTERNAL_ADDRESS": host_address()}
    bundle = ci_bundle()
    if bundle is not None:
        # The TLS proxy between these machines and PyPI: its CA, for pip during builds only.
        env["IVR_BUILD_CA"] = str(bundle)
    server = SourceServer(ASTERISK_SRC) if ASTERISK_SRC.is_dir() else None
    if server is not None:
        env.update(asterisk_build_args(server))
    line = ComposeLine.create("ivr3400docker", work, **env)
    line.compose("down", "-v", "--remove-orphans", check=False)  # a crashed run's leftovers
    try:
        started = time.monotonic()
        line.compose("build", timeout=BUILD_TIMEOUT)
        build_seconds = round(time.monotonic() - started, 1)
    finally:
        if server is not None:
            server.close()
    line.compose("up", "-d")
    healthy = line.wait_healthy(LINE)
    run = RunningLine(compose=line, flows=flows,
                      token=env.get("IVR_ADMIN_TOKEN", line.env["IVR_ADMIN_TOKEN"]), host=env["SIP_EXTERNAL_ADDRESS"],
                      build_seconds=build_seconds, healthy=healthy)
    run.report(step="build", seconds=build_seconds)
    run.report(step="healthy", start_to_healthy_s=healthy)
    try:
        yield run
    finally:
        (work / "compose.log").write_text("\n".join(line.log) + "\n" + line.logs())
        # Every service of every profile the suite may have started (monitoring's Prometheus too).
        everything = replace(line, files=(*line.files, "docker/compose.debian.yml"), profiles=("*",))
        everything.compose("down", "-v", "--remove-orphans", "--timeout", "20", check=False)
    left = line.leftovers()
    assert left == {"containers": [], "networks": [], "volumes": []}, f"`docker compose down -v` left {left}"


def always_open(text: str) -> str:
    """The shipped flow with the line open every hour of every day (calls of the suite are served at
    whatever hour CI runs them)."""
    text = re.sub(r'^(\s+)(mon|tue|wed|thu|fri|sat|sun): .*$', r'\1\2: "00:00-24:00"', text, flags=re.M)
    return text.replace("public_holidays: fr", "public_holidays: null")


def flows_as(line: RunningLine, text: str) -> dict:
    """Make the mounted flow file read ``text`` and wait until the running IVR serves it (nothing to do
    when it already does); returns the IVR's view of its flows."""
    target = line.flows / SHIPPED_FLOW.name
    if target.read_text(encoding="utf-8") != text:
        before = line.admin_get("/flows")["flows"][0]["version"]
        target.write_text(text, encoding="utf-8")
        wait_until(lambda: line.admin_get("/flows")["flows"][0]["version"] != before,
                   "the IVR to reload the edited flow", timeout=DEADLINE, seen=lambda: line.admin_get("/flows"))
    view = line.admin_get("/flows")
    assert not view["line"]["rejected"], view
    return view


@pytest.fixture
def shipped_flows(docker_line) -> dict:
    return flows_as(docker_line, SHIPPED_FLOW.read_text(encoding="utf-8"))


@pytest.fixture
def open_flows(docker_line) -> dict:
    return flows_as(docker_line, always_open(SHIPPED_FLOW.read_text(encoding="utf-8")))


def ci_bundle() -> Path | None:
    """The CA bundle the builds trust (IVR_BUILD_CA, or the host's), when there is one."""
    path = Path(os.environ.get("IVR_BUILD_CA", HOST_BUNDLE))
    return path if path.is_file() and path.stat().st_size else None


def pytest_collection_modifyitems(config, items):
    """A hung build or call fails its test instead of stalling CI (the first test also builds the images:
    a cold build compiles Asterisk)."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here:
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT + 900))
