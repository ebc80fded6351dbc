"""Ports for the processes a lab, a benchmark or a test starts: free, and nobody else's until we exit.

Asking the OS for a free port (bind to port 0, close, hand the number over) leaves a gap before the
child process binds it, and in that gap the port can be given to someone else: to any client socket
of the machine (the OS takes their local ports from the same ephemeral range, 32768–60999 on Linux)
or to another test worker doing the same thing. On a busy machine that gap is long enough to lose.

So ports come from ranges below the ephemeral one, which the OS never hands out by itself, and in
blocks each claimed by one process with an exclusive lock on a file (released by the kernel when the
process ends, however it ends): two processes of ours never get the same port, and a port is never
handed out twice by one process. Each port is also checked free at the time it is handed out (a
service of the machine may listen there).
"""

from __future__ import annotations

import fcntl
import os
import socket
import tempfile
import threading
from pathlib import Path

__all__ = ["NoFreePort", "free_port", "free_udp_range", "TCP_PORTS", "RTP_PORTS"]

#: Service ports (SIP, AMI, FastAGI, admin HTTP, PostgreSQL, Prometheus…), handed out one at a time;
#: above 10000–10100, the RTP range the docker line publishes (docker-compose.yml).
TCP_PORTS = range(11000, 20000)
#: RTP ports (Asterisk's ``rtp.conf`` range of a lab, SIPp's media), handed out as consecutive ranges.
RTP_PORTS = range(20000, 32000)
_BLOCK = 50
_CLAIMS = Path(tempfile.gettempdir()) / "ivr-port-claims"


class NoFreePort(RuntimeError):
    """Every block of the range is claimed by a live process or busy."""


def _bindable(port: int, kind: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class _Pool:
    """Blocks of consecutive ports, claimed by this process with a lock file per block."""

    def __init__(self, ports: range) -> None:
        self.ports = ports
        self.blocks = len(ports) // _BLOCK
        self._held: dict[int, int] = {}  # block index -> descriptor of its lock file (held till exit)
        self._next: list[int] = []       # ports of held blocks not handed out yet
        self._lock = threading.Lock()

    def _claim(self, block: int) -> bool:
        _CLAIMS.mkdir(mode=0o1777, parents=True, exist_ok=True)
        fd = os.open(_CLAIMS / f"{self.ports.start}-{block}", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._held[block] = fd
        return True

    def _first_block(self) -> int:
        # Processes started together begin at different places: fewer locks tried before one is free.
        return (os.getpid() * 2654435761) % self.blocks  # Knuth's multiplicative hash: neighbours land apart

    def _claim_run(self, count: int) -> int:
        """Claim ``count`` consecutive unclaimed blocks; the first one's index."""
        start = self._first_block()
        for offset in range(self.blocks):
            first = (start + offset) % self.blocks
            if first + count > self.blocks or any(b in self._held for b in range(first, first + count)):
                continue
            got: list[int] = []
            for block in range(first, first + count):
                if not self._claim(block):
                    break
                got.append(block)
            if len(got) == count:
                return first
            for block in got:  # part of the run is someone else's: give ours back
                os.close(self._held.pop(block))
        raise NoFreePort(f"no {count} free block(s) of {_BLOCK} ports in {self.ports.start}-{self.ports.stop - 1}")

    def port(self, kinds: tuple[int, ...], host: str, span: int) -> int:
        """The first of ``span`` consecutive ports, each free for every socket kind in ``kinds``."""
        with self._lock:
            for _ in range(self.blocks * _BLOCK):
                if len(self._next) < span:  # what is left of the block is too short: a new block
                    first = self._claim_run(1)
                    base = self.ports.start + first * _BLOCK
                    self._next = list(range(base, base + _BLOCK))
                ports, self._next = self._next[:span], self._next[span:]
                if all(_bindable(p, kind, host) for p in ports for kind in kinds):
                    return ports[0]
            raise NoFreePort(f"no free port in {self.ports.start}-{self.ports.stop - 1}")

    def run(self, size: int, kind: int, host: str) -> tuple[int, int]:
        with self._lock:
            count = -(-size // _BLOCK)
            for _ in range(self.blocks):
                first = self._claim_run(count)
                base = self.ports.start + first * _BLOCK
                if all(_bindable(p, kind, host) for p in range(base, base + size)):
                    return base, base + size - 1
            raise NoFreePort(f"no {size} consecutive free ports in {self.ports.start}-{self.ports.stop - 1}")


_TCP = _Pool(TCP_PORTS)
_RTP = _Pool(RTP_PORTS)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1", *, also: tuple[int, ...] = (),
              span: int = 1) -> int:
    """A port nothing listens on, reserved for this process (no other process of ours gets it, and
    this one never gets it twice). ``also``: other socket kinds it must be free for (a program that
    listens on UDP and TCP at one port); ``span``: that many consecutive ports, the first returned (a
    program that also takes the next port)."""
    return _TCP.port((kind, *also), host, span)


def free_udp_range(size: int, host: str = "127.0.0.1") -> tuple[int, int]:
    """``size`` consecutive free UDP ports from an even one (first, last): Asterisk's RTP range for one
    lab, or SIPp's media ports; reserved for this process like :func:`free_port`."""
    return _RTP.run(size, socket.SOCK_DGRAM, host)
