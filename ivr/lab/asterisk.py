"""One Asterisk process run from a folder: start, wait until booted, CLI commands, its log, stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

from ..waiting import DEADLINE, STARTUP

__all__ = ["AsteriskProcess", "AsteriskFailed", "LOG_LINE"]

#: A line of the ``messages`` log: ``[2026-11-25 10:00:00.123] ERROR[1234][C-0001] file.c: text``.
LOG_LINE = re.compile(r"^\[(?P<when>[^\]]+)\] (?P<level>[A-Z]+)\[(?P<thread>\d+)\](?:\[(?P<call>[^\]]+)\])? "
                      r"(?P<source>[^:]+): (?P<text>.*)$")


class AsteriskFailed(RuntimeError):
    """Asterisk did not start (or stopped); the message carries the end of its log."""


class AsteriskProcess:
    """``asterisk -C <etc>/asterisk.conf -f`` with its state in ``state_dir``."""

    def __init__(self, binary: Path, etc: Path, state_dir: Path) -> None:
        self.binary = binary
        self.conf = etc / "asterisk.conf"
        self.state_dir = state_dir
        self.log_path = state_dir / "log" / "messages"
        self.console_path = state_dir / "console.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = STARTUP) -> None:
        """Start in the foreground (no console) and wait until Asterisk says it is fully booted."""
        console = open(self.console_path, "ab")
        self.proc = subprocess.Popen([str(self.binary), "-C", str(self.conf), "-f", "-n"],
                                     stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        console.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AsteriskFailed(f"Asterisk exited with {self.proc.returncode}:\n{self.tail()}")
            done = self.cli("core waitfullybooted", timeout=DEADLINE, check=False)
            if done.returncode == 0 and "fully booted" in done.stdout:
                return
            time.sleep(0.2)
        self.stop()
        raise AsteriskFailed(f"Asterisk did not finish booting in {timeout:g} s:\n{self.tail()}")

    def cli(self, command: str, *, timeout: float = DEADLINE, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one CLI command through the control socket (``asterisk -rx``)."""
        done = subprocess.run([str(self.binary), "-C", str(self.conf), "-rx", command], capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AsteriskFailed(f"asterisk -rx {command!r}: {done.stderr.strip() or done.stdout.strip()}")
        return done

    def stop(self, timeout: float = DEADLINE) -> None:
        """Stop Asterisk (``core stop now``, then a kill past ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self.cli("core stop now", timeout=timeout, check=False)
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    @property
    def running(self) -> bool:
        """Whether the Asterisk process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def log_size(self) -> int:
        """Where the log ends now: pass it to :meth:`log_lines` to read only what comes after."""
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_lines(self, since: int = 0, levels: tuple[str, ...] = ("ERROR",)) -> list[str]:
        """Log lines of the given levels written after byte offset ``since``."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", errors="replace")
        out = []
        for line in text.splitlines():
            m = LOG_LINE.match(line)
            if m and m.group("level") in levels:
                out.append(line)
        return out

    def tail(self, lines: int = 30) -> str:
        """The last lines of Asterisk's log, for a failing test's message."""
        path = self.log_path if self.log_path.exists() else self.console_path
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
