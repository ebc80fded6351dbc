"""The line in containers, driven through the real ``docker compose`` (a test harness, not product code).

One :class:`ComposeLine` is one compose project of the repository's ``docker-compose.yml``: its own
project name (containers, network and volumes prefixed by it), its own secrets, the images built
from our Dockerfiles. Everything a test asserts comes from the engine (``docker inspect``) or from the
line itself (its admin API, its logs, real SIP calls).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ivr.waiting import STARTUP, wait_until

ROOT = Path(__file__).resolve().parents[2]
#: The Asterisk and pjproject release sources these machines hold (no downloads.asterisk.org here).
ASTERISK_SRC = ROOT.parent / "shared" / "asterisk-src"
#: Builds are long on a cold machine (the Asterisk image compiles Asterisk): bounded, but generously.
BUILD_TIMEOUT = 3600
#: Where the sources are served to the build (a port below Linux's ephemeral range, outside ivr.lab.ports').
SOURCE_PORT = 8934


def docker_ready() -> str | None:
    """None when a docker engine and Compose v2 answer; otherwise why not (the suite is skipped)."""
    if shutil.which("docker") is None:
        return "no docker client (scripts/docker-engine installs Debian's docker.io)"
    for argv, what in ((["docker", "info"], "no docker engine answers"),
                       (["docker", "compose", "version"], "no Compose v2 plugin")):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"{what} (timed out)"
        if done.returncode != 0:
            return f"{what}: {done.stderr.strip()[-300:]} (scripts/docker-engine starts one as root)"
    if subprocess.run(["docker", "image", "inspect", "debian:bookworm-slim"], capture_output=True).returncode:
        return "no debian:bookworm-slim image (scripts/docker-base makes it from Debian's archive)"
    return None


def _seconds(stamp: str) -> float:
    """Docker's RFC 3339 time stamps (nanoseconds) as POSIX seconds."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float("0." + (frac[:6] or "0"))


#: The engine's words when a published port is taken: ``listen udp4 0.0.0.0:5060: bind: address already in use``.
_PORT_HELD = re.compile(r"listen (udp|tcp)[46]? [0-9.:\[\]]*?:(\d+): bind: address already in use")


def _port_free(proto: str, port: int) -> bool:
    """Whether this host's ``port`` can be bound (nothing, not even a replaced container's proxy, holds it)."""
    kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def bridge_gateway() -> str:
    """The default bridge's address on this host (docker0), which build containers reach."""
    config = json.loads(subprocess.run(["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],
                                       capture_output=True, text=True, check=True).stdout)
    gateway = next((c["Gateway"] for c in config if c.get("Gateway")), None)
    if gateway:
        return gateway
    # The engine does not always record it: the first address of the bridge's subnet, as it assigns.
    subnet = ipaddress.ip_network(config[0]["Subnet"])
    return str(next(subnet.hosts()))


class SourceServer:
    """Serves the release sources to the Asterisk image's build over HTTP, on the docker bridge's
    gateway address (what a build container reaches), as a mirror would."""

    def __init__(self, folder: Path) -> None:
        gateway = bridge_gateway()
        handler = partial(_QuietHandler, directory=str(folder))
        # A stable port when free: the URL is a build argument, and a new one would rebuild Asterisk.
        try:
            self.httpd = ThreadingHTTPServer((gateway, SOURCE_PORT), handler)
        except OSError:
            self.httpd = ThreadingHTTPServer((gateway, 0), handler)
        self.url = f"http://{gateway}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def asterisk_build_args(server: SourceServer) -> dict[str, str]:
    """Build arguments pointing the Asterisk image at the served sources, each pinned by its checksum."""
    tarball = ASTERISK_SRC / "asterisk-22.8.2.tar.gz"
    pj = ASTERISK_SRC / "pjproject-2.15.1.tar.bz2"
    return {"ASTERISK_URL": f"{server.url}/{tarball.name}", "ASTERISK_SHA256": _digest(tarball, "sha256"),
            "PJPROJECT_URL": f"{server.url}/{pj.name}", "PJPROJECT_MD5": _digest(pj, "md5")}


@dataclass
class ComposeLine:
    """One compose project of the line."""

    project: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ("docker-compose.yml",)
    #: Active profiles (the tester, profile "test", runs when targeted: `compose run tester`).
    profiles: tuple[str, ...] = ()
    log: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, project: str, workdir: Path, **env: str) -> ComposeLine:
        """A project with fresh secrets, the test profile of the line, and ``env`` on top."""
        def secret() -> str:
            return secrets.token_urlsafe(18)

        base = {
            "IVR_AMI_SECRET": secret(), "IVR_ADMIN_TOKEN": secret(), "SIP_AGENT1_PASSWORD": secret(),
            "SIP_AGENT2_PASSWORD": secret(), "SIP_TESTER_PASSWORD": secret(), "SIP_PHONE1_PASSWORD": secret(),
            "IVR_DB_PASSWORD": secret(), "IVR_LINE_PROFILE": "test", "IVR_ALLOW_SIM_CLOCK": "true",
        }
        return cls(project=project, workdir=workdir, env={**base, **env})

    def _environ(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "SIP_", "ASTERISK_", "COMPOSE_"))}
        return {**keep, **self.env, "COMPOSE_PROJECT_NAME": self.project,
                "COMPOSE_FILE": os.pathsep.join(str(ROOT / f) for f in self.files),
                "COMPOSE_PROFILES": ",".join(self.profiles), "COMPOSE_PROGRESS": "plain",
                "COMPOSE_MENU": "false"}

    def compose(self, *args: str, timeout: float = STARTUP, check: bool = True) -> subprocess.CompletedProcess:
        """``docker compose ARGS`` in this project; its output is kept in :attr:`log`.

        ``up`` that found a published port still held (the engine's proxy of a container just replaced,
        a CI run saw it for Asterisk's 5060/udp) waits until the port is free, then tries once more."""
        done = self._run(args, timeout)
        held = _PORT_HELD.search(done.stderr) if args[:1] == ("up",) and done.returncode != 0 else None
        if held is not None:
            proto, port = held.group(1), int(held.group(2))
            wait_until(lambda: _port_free(proto, port), f"host port {port}/{proto} released")
            done = self._run(args, timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def _run(self, args: tuple[str, ...], timeout: float) -> subprocess.CompletedProcess:
        started = time.monotonic()
        done = subprocess.run(["docker", "compose", *args], cwd=ROOT, env=self._environ(), capture_output=True,
                              text=True, timeout=timeout)
        self.log.append(f"$ docker compose {' '.join(args)}  [exit {done.returncode}, "
                        f"{time.monotonic() - started:.1f} s]\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
        return done

    def container(self, service: str) -> str:
        """The id of the service's (first) container."""
        ids = self.compose("ps", "-q", "--all", service).stdout.split()
        if not ids:
            raise AssertionError(f"no container for service {service}")
        return ids[0]

    def inspect(self, service: str) -> dict:
        out = subprocess.run(["docker", "inspect", self.container(service)], capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out)[0]

    def address(self, service: str) -> str:
        """The service's address on the line's network (a test host of this machine)."""
        networks = self.inspect(service)["NetworkSettings"]["Networks"]
        return next(iter(networks.values()))["IPAddress"]

    def health(self, service: str) -> str:
        state = self.inspect(service)["State"]
        return state.get("Health", {}).get("Status", state["Status"])

    def wait_healthy(self, services: list[str], timeout: float = STARTUP) -> dict[str, float]:
        """Until every service reports healthy; returns each one's seconds from start to healthy."""
        def all_healthy() -> bool:
            return all(self.health(s) == "healthy" for s in services)

        def seen() -> dict:
            states = {s: self.health(s) for s in services}
            # What the failing ones said: their last check's output and their own last lines.
            return states | {f"{s} check": (self.inspect(s)["State"].get("Health", {}).get("Log") or [{}])[-1]
                             for s, state in states.items() if state != "healthy"} \
                | {f"{s} log": self.logs(s, tail=15) for s, state in states.items() if state != "healthy"}

        wait_until(all_healthy, f"services {services} to be healthy", timeout=timeout, seen=seen)
        return {s: self.start_to_healthy(s) for s in services}

    def start_to_healthy(self, service: str) -> float:
        state = self.inspect(service)["State"]
        passed = [c for c in state["Health"]["Log"] if c["ExitCode"] == 0]
        # The engine keeps the last five checks: the first passing one kept is an upper bound.
        return round(_seconds(passed[0]["End"]) - _seconds(state["StartedAt"]), 1)

    def logs(self, *services: str, tail: int | None = None) -> str:
        args = ["logs", "--no-color"] + ([f"--tail={tail}"] if tail else []) + list(services)
        done = self.compose(*args, check=False)
        return done.stdout + done.stderr

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes of this project the engine still has."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, argv in (("containers", ["docker", "ps", "-a", "-q"]), ("networks", ["docker", "network", "ls", "-q"]),
                           ("volumes", ["docker", "volume", "ls", "-q"])):
            found[kind] = subprocess.run([*argv, "--filter", label], capture_output=True, text=True,
                                         check=True).stdout.split()
        return found
