"""The IVR and the tracking stub as separate processes (``ivr serve``, ``ivr tracking-stub``)."""

from __future__ import annotations

import glob
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..waiting import DEADLINE, STARTUP

__all__ = ["Service", "ServiceFailed", "faketime_env"]


class ServiceFailed(RuntimeError):
    """A process did not become ready; the message carries the end of its output."""


def faketime_env(start: datetime) -> dict[str, str]:
    """Environment that starts a process's wall clock at ``start`` (Debian's libfaketime; it then runs on).

    Only the wall clock moves: the monotonic clock (timeouts, asyncio) stays real.
    """
    libs = sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")) or sorted(
        glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))
    if not libs:
        raise ServiceFailed("libfaketime is not installed (Debian package faketime)")
    utc = start.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    preload = " ".join(p for p in (libs[0], os.environ.get("LD_PRELOAD", "")) if p)
    return {"LD_PRELOAD": preload, "FAKETIME": f"@{utc}", "TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_NO_CACHE": "1"}


class Service:
    """A child process with its output in a file, ready when an HTTP URL answers 200."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log: Path, ready_url: str,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log = log
        self.ready_url = ready_url
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def ivr(cls, subcommand: list[str], **kw: Any) -> "Service":
        """``python -m ivr <subcommand>`` with the running interpreter."""
        return cls(kw.pop("name", subcommand[0]), [sys.executable, "-m", "ivr", *subcommand], **kw)

    def start(self, timeout: float = STARTUP, headers: dict[str, str] | None = None) -> None:
        """Start the process and wait until it answers its health check."""
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceFailed(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                request = urllib.request.Request(self.ready_url, headers=headers or {})
                with urllib.request.urlopen(request, timeout=DEADLINE) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise ServiceFailed(f"{self.name} was not ready in {timeout:g} s:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no drain, no goodbye."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(DEADLINE)

    @property
    def running(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = DEADLINE) -> int | None:
        """SIGTERM (the IVR drains its calls), SIGKILL after ``timeout``; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        """The last lines of the process's output, for a failing test's message."""
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
