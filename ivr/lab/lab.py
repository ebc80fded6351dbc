"""A whole line on one machine: tracking stub, ``ivr serve`` and Asterisk with the product's configuration."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..waiting import DEADLINE, ConditionTimeout, wait_until
from .agi_tap import TapThread
from .asterisk import AsteriskProcess
from .bundle import find_asterisk
from .config import HostSettings, adapt_for_host, fill_placeholders
from .ports import free_port, free_udp_range
from .services import Service, ServiceFailed, faketime_env

__all__ = ["Lab", "LabOptions", "LabSecrets"]


@dataclass(frozen=True)
class LabSecrets:
    """Credentials for one lab, random each time. The AMI secret holds characters that mean
    something to Asterisk's config parser and to sed (``;``, ``&``, ``|``), to prove they pass."""

    ami_user: str = "ivr"
    ami_secret: str = field(default_factory=lambda: f"{secrets.token_hex(6)};&|{secrets.token_hex(6)}")
    tester: str = field(default_factory=lambda: secrets.token_hex(8))
    phone1: str = field(default_factory=lambda: secrets.token_hex(8))
    agent1: str = field(default_factory=lambda: secrets.token_hex(8))
    agent2: str = field(default_factory=lambda: secrets.token_hex(8))
    trunk: str = field(default_factory=lambda: secrets.token_hex(8))
    admin_token: str = field(default_factory=lambda: secrets.token_hex(12))
    #: The test profile's read-only manager account (every event; the IVR's own account sees few).
    ami_watch_user: str = "watcher"
    ami_watch_secret: str = field(default_factory=lambda: secrets.token_hex(12))

    def agent(self, name: str) -> str:
        """The password of agent ``agent1`` or ``agent2`` (each agent has its own)."""
        return {"agent1": self.agent1, "agent2": self.agent2}[name]


@dataclass(frozen=True)
class LabOptions:
    """How a lab line is started: clocks, nodes, speech, the store."""

    #: Start the IVR's wall clock here (libfaketime): calls that do not give their time (3400)
    #: then meet the line open whatever the real hour. None: the real clock.
    ivr_clock: datetime | None = None
    #: A Vosk model folder: questions run over AudioSocket. None: keypad only.
    speech_model: Path | None = None
    #: UDP ports for RTP (two per call leg).
    rtp_ports: int = 400
    #: host:port the trunk endpoint reaches (callbacks dial out there); the product's default otherwise.
    trunk_host: str = "127.0.0.2"
    #: Relay FastAGI through an :class:`~ivr.lab.agi_tap.AgiTap` (IVR turn times, captures).
    agi_tap: bool = False
    ivr_env: dict[str, str] = field(default_factory=dict)
    #: IVR nodes (1 or 2); two share ``store`` and the dialplan reaches both (IVR_HOST_2).
    nodes: int = 1
    #: The IVR's store: None, a SQLite file in the lab's folder; or a ``postgresql://`` URL.
    store: str | None = None


class Lab:
    """Start with ``with Lab() as lab:``; every address and credential is on the object."""

    def __init__(self, options: LabOptions = LabOptions(), workdir: Path | None = None) -> None:
        self.options = options
        self.secrets = LabSecrets()
        self._own_dir = workdir is None
        # Short path: Asterisk's control socket lives under it (unix socket paths are limited).
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="ivr-lab-"))
        self.host = "127.0.0.1"
        self.sip_port = free_port(kind=socket.SOCK_DGRAM)
        self.ami_port = free_port()
        self.agi_port = free_port()
        self.audiosocket_port = free_port()
        self.admin_port = free_port()
        self.tracking_port = free_port()
        self.rtp = free_udp_range(options.rtp_ports)
        self.records = self.dir / "calls.jsonl"
        self.etc = self.dir / "etc"
        self.asterisk: AsteriskProcess | None = None
        self.ivr: Service | None = None
        self.tracking: Service | None = None
        self.tap: TapThread | None = None
        #: The second node's ports and process (``nodes=2``).
        self.agi_port_2 = free_port() if options.nodes > 1 else 0
        self.audiosocket_port_2 = free_port() if options.nodes > 1 else 0
        self.admin_port_2 = free_port() if options.nodes > 1 else 0
        self.ivr2: Service | None = None

    # -- life cycle ---------------------------------------------------------

    def __enter__(self) -> "Lab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def asterisk_env(self) -> dict[str, str]:
        """The variables ``asterisk/entrypoint.sh`` fills the placeholders from (as docker compose sets them)."""
        s = self.secrets
        return {"AMI_USER": s.ami_user, "AMI_SECRET": s.ami_secret, "SIP_TESTER_PASSWORD": s.tester,
                "SIP_PHONE1_PASSWORD": s.phone1, "SIP_AGENT1_PASSWORD": s.agent1, "SIP_AGENT2_PASSWORD": s.agent2,
                # The manager where the IVR reaches it, for the IVR only; the test phones and 3499.
                "AMI_BIND_ADDRESS": self.host, "AMI_PERMIT": f"{self.host}/32", "IVR_LINE_PROFILE": "test",
                "AMI_WATCH_USER": s.ami_watch_user, "AMI_WATCH_SECRET": s.ami_watch_secret,
                "SIP_EXTERNAL_ADDRESS": self.host, "SIP_LOCAL_NET": "127.0.0.0/8",
                "SIP_TRUNK_USER": "ivr3400", "SIP_TRUNK_PASSWORD": s.trunk,
                "SIP_TRUNK_HOST": self.options.trunk_host}

    def ivr_env(self, node: int = 1) -> dict[str, str]:
        """The environment the IVR node ``node`` (1 or 2) is started with."""
        s = self.secrets
        agi, audio, admin = ((self.agi_port, self.audiosocket_port, self.admin_port) if node == 1 else
                             (self.agi_port_2, self.audiosocket_port_2, self.admin_port_2))
        suffix = "" if node == 1 else f"-{node}"
        env = {
            "IVR_HOST": self.host, "IVR_AGI_PORT": str(agi),
            "IVR_AUDIOSOCKET_PORT": str(audio), "IVR_ADMIN_PORT": str(admin),
            "IVR_ADMIN_TOKEN": s.admin_token, "IVR_RECORDS": str(self.dir / f"calls{suffix}.jsonl"),
            "IVR_STORE": self.options.store or str(self.dir / "ivr.sqlite"),
            "IVR_ACCEPTED_DIR": str(self.dir / f"accepted{suffix}"),
            "IVR_TRACKING_URL": f"http://{self.host}:{self.tracking_port}",
            "IVR_AMI_HOST": self.host, "IVR_AMI_PORT": str(self.ami_port), "IVR_AMI_USER": s.ami_user,
            "IVR_AMI_SECRET": s.ami_secret, "IVR_ALLOW_SIM_CLOCK": "true", "IVR_LOG_FORMAT": "json",
            "IVR_FLOW_WATCH_INTERVAL": "0",
            # The lab's own readbacks (both nodes share them, on one clock): processes elsewhere on the
            # machine, on other clocks, never sweep them away.
            "IVR_DYNAMIC_PROMPTS_DIR": str(self.dir / "readbacks"),
        }
        if self.options.speech_model is not None:
            env.update({"IVR_SPEECH": "true", "IVR_VOSK_MODEL": str(self.options.speech_model)})
        else:
            env["IVR_SPEECH"] = "false"
        if self.options.ivr_clock is not None:
            env.update(faketime_env(self.options.ivr_clock))
        if self.options.nodes > 1:
            env["IVR_NODE_NAME"] = f"ivr-{node}"
        return {**env, **self.options.ivr_env}

    def start(self) -> None:
        """Start the line: the tracking service, the IVR node(s), Asterisk; wait until each is up."""
        binary = find_asterisk()
        self.tracking = Service.ivr(
            ["tracking-stub", "--host", self.host, "--port", str(self.tracking_port), "--db",
             str(self.dir / "tracking.sqlite")],
            env={}, log=self.dir / "tracking.log", ready_url=f"http://{self.host}:{self.tracking_port}/healthz")
        self.tracking.start()
        self.ivr = Service.ivr(["serve"], env=self.ivr_env(), log=self.dir / "ivr.log",
                               ready_url=f"{self.admin_url}/healthz")
        self.ivr.start()
        if self.options.nodes > 1:
            self.ivr2 = Service.ivr(["serve"], name="serve-2", env=self.ivr_env(2), log=self.dir / "ivr-2.log",
                                    ready_url=f"{self.admin_url_2}/healthz")
            self.ivr2.start()
        agi_port = self.agi_port
        if self.options.agi_tap:
            self.tap = TapThread(self.host, self.agi_port, keep_sessions=20)
            agi_port = self.tap.start()
        fill_placeholders(self.etc, self.asterisk_env())
        adapt_for_host(self.etc, HostSettings(
            asterisk_root=binary.parent.parent, state_dir=self.dir / "asterisk", bind=self.host,
            sip_port=self.sip_port, ami_port=self.ami_port, rtp_start=self.rtp[0], rtp_end=self.rtp[1],
            ivr_host=self.host, ivr_agi_port=agi_port,
            ivr_host_2=self.host if self.options.nodes > 1 else "", ivr_agi_port_2=self.agi_port_2 or 4573))
        self.asterisk = AsteriskProcess(binary, self.etc, self.dir / "asterisk")
        self.asterisk.start()
        self.wait_ami_connected()

    def stop(self) -> None:
        """Stop every part of the line, last started first."""
        for part in (self.asterisk, self.tap, self.ivr, self.ivr2, self.tracking):
            if part is not None:
                part.stop()
        if self._own_dir and os.environ.get("IVR_LAB_KEEP", "") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- the IVR's admin API ------------------------------------------------

    @property
    def admin_url(self) -> str:
        """The first node's console."""
        return f"http://{self.host}:{self.admin_port}"

    @property
    def admin_url_2(self) -> str:
        """The second node's console."""
        return f"http://{self.host}:{self.admin_port_2}"

    def admin_get(self, path: str, timeout: float = DEADLINE, node: int = 1) -> dict[str, Any]:
        """A JSON page of a node's admin API (``node=2``: the second node)."""
        try:
            page: dict[str, Any] = json.loads(self._admin(path, timeout, node))
        except urllib.error.HTTPError as exc:  # /readyz answers 503 with a JSON body
            page = json.loads(exc.read() or b"{}")
        return page

    def _admin(self, path: str, timeout: float, node: int = 1) -> bytes:
        base = self.admin_url if node == 1 else self.admin_url_2
        request = urllib.request.Request(f"{base}{path}",
                                         headers={"Authorization": f"Bearer {self.secrets.admin_token}"})
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return bytes(resp.read())

    def expected_wait(self, queue: str) -> float | None:
        """The IVR's current idea of a queue's expected wait, in seconds (from its /metrics)."""
        text = self._admin("/metrics", DEADLINE).decode()
        m = re.search(rf'^ivr_queue_expected_wait_seconds{{queue="{re.escape(queue)}"}} (\S+)$', text, re.M)
        return float(m.group(1)) if m else None

    def wait_expected_wait(self, queue: str, test: Callable[[float], bool], timeout: float = DEADLINE) -> float:
        """Until ``test(wait)`` holds for the queue (the IVR refreshes queue state every few seconds)."""
        last: list[float | None] = [None]

        def holds() -> bool:
            last[0] = wait = self.expected_wait(queue)
            return wait is not None and test(wait)

        try:
            wait_until(holds, f"the IVR's expected wait for queue {queue} to pass the test", timeout=timeout,
                       interval=0.3, seen=lambda: last[0])
        except ConditionTimeout as exc:
            raise ServiceFailed(str(exc)) from None
        assert last[0] is not None
        return last[0]

    def wait_ami_connected(self, timeout: float = DEADLINE) -> None:
        """Wait until the first node's console says the manager connection is up."""
        def state() -> object:
            return self.admin_get("/readyz").get("checks", {}).get("ami")

        try:
            wait_until(lambda: state() == "connected", "the IVR to log in to Asterisk's AMI", timeout=timeout,
                       interval=0.2, seen=state)
        except ConditionTimeout as exc:
            raise ServiceFailed(str(exc)) from None

    def record(self, sip_call_id: str, timeout: float = DEADLINE) -> dict[str, Any] | None:
        """The IVR's call record for the call with this SIP Call-ID (it is written as the call ends);
        None if there is none after ``timeout`` seconds."""
        def found() -> dict[str, Any] | None:
            calls = self.admin_get(f"/calls/recent?limit=200&sip_call_id={urllib.parse.quote(sip_call_id)}")
            return calls["calls"][-1] if calls.get("calls") else None

        try:
            return wait_until(found, f"the record of SIP call {sip_call_id}", timeout=timeout, interval=0.2)
        except ConditionTimeout:
            return None

    # -- SIP phones as Asterisk sees them ------------------------------------

    def contact_states(self, aor: str) -> list[str]:
        """The qualify state of each contact registered for ``aor`` (``Avail``, ``Unavail``…)."""
        assert self.asterisk is not None
        out = self.asterisk.cli("pjsip show contacts").stdout
        return [m.group(1) for m in re.finditer(rf"^\s*Contact:\s+{re.escape(aor)}/\S+\s+\S+\s+(\S+)", out, re.M)]

    def wait_phone_gone(self, aor: str, timeout: float = DEADLINE) -> None:
        """Until Asterisk no longer counts on the phone registered as ``aor`` (stopped: it does not answer
        the qualify Asterisk sends now), so its queue member is unavailable."""
        assert self.asterisk is not None
        self.asterisk.cli(f"pjsip qualify {aor}", check=False)
        wait_until(lambda: all(state != "Avail" for state in self.contact_states(aor)),
                   f"Asterisk to find the phone {aor} gone", timeout=timeout, interval=0.5,
                   seen=lambda: self.contact_states(aor))

    def channels(self) -> int:
        """Channels up in Asterisk now."""
        assert self.asterisk is not None
        out = self.asterisk.cli("core show channels count").stdout
        found = re.search(r"^(\d+) active channels?", out, re.M)
        return int(found.group(1)) if found else -1

    def wait_idle(self, timeout: float = DEADLINE) -> None:
        """Hang up whatever call is still up (a phone a test stopped mid-call leaves its channel in a
        bridge until Asterisk notices) and wait until no channel is left: the next test starts on an
        idle line."""
        assert self.asterisk is not None
        self.asterisk.cli("channel request hangup all", check=False)
        wait_until(lambda: self.channels() == 0, "no channel up in Asterisk", timeout=timeout, interval=0.2,
                   seen=self.channels)

    def describe(self) -> str:
        """Where everything is, for a failure message."""
        parts = [f"lab folder {self.dir} (IVR_LAB_KEEP=1 keeps it)"]
        for name, part in (("asterisk", self.asterisk), ("ivr", self.ivr), ("ivr-2", self.ivr2),
                           ("tracking", self.tracking)):
            if part is not None:
                parts.append(f"--- {name} ---\n{part.tail(15)}")
        return "\n".join(parts)
