"""``ivr bench sip``: real SIP load through a real Asterisk into ``ivr serve``, driven by SIPp.

A lab (Asterisk 22 with the product's configuration, ``ivr serve``, the tracking stub) takes
N concurrent SIPp callers playing the keypad self-service path: digest authentication, RTP line
noise (G.711 µ-law) for the whole call, RFC 4733 keys. Reported per concurrency level: calls
failed (SIPp's own failures plus calls the IVR did not serve), call set-up time (first INVITE to
200 OK, the challenge round included) p50/p95, the IVR's turn time (Asterisk's reply → the IVR's
next command, timed by a FastAGI relay outside both) p50/p95, and the CPU of Asterisk and of the
IVR over the run. Each level runs on a fresh lab.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..lab.lab import Lab, LabOptions
from ..lab.ports import free_port, free_udp_range
from ..sim.runner import percentile
from ..waiting import ConditionTimeout, until
from .load import proc_cpu_seconds

__all__ = ["run_sip_bench", "caller_pcap", "keypad_presses", "scenario_xml"]

TEMPLATE = Path(__file__).with_name("sipp_keypad.xml")
#: An open Tuesday morning: SIPp sends it in X-IVR-Sim-Now (3499), so the bench runs at any hour.
CALL_TIME = "2026-11-24T10:00:00+01:00"
FILE_NUMBER = "5458443881"  # carte grise, in the tracking stub's dataset
_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def keypad_presses() -> list[tuple[int, str]]:
    """(milliseconds before, keys) for the self-service path; see sipp_keypad.xml for why some keys repeat."""
    return [(3000, "1"), (2500, "1"), (2500, FILE_NUMBER + "#"), (3500, "1"), (16000, "1"), (6000, "1"),
            (3000, "5")]


def line_noise(seconds: float) -> bytes:
    """A quiet telephone line (8 kHz): the noise every bench caller sends between what it says, one
    second of it over and over."""
    import numpy as np

    from ..sim.sip import mulaw_decode, mulaw_encode

    second = mulaw_decode(mulaw_encode(np.random.default_rng(3400).normal(0, 60, 8000).astype("<i2").tobytes()))
    size = round(seconds * 8000) * 2
    return (second * (size // len(second) + 1))[:size]


def caller_pcap(path: Path, presses: list[tuple[int, str]], *, gap: float = 0.3, tail: float = 40.0,
                speech: Sequence[tuple[float, bytes]] = ()) -> Path:
    """The caller's whole RTP stream as one pcap for SIPp to replay (it rewrites addresses only): quiet
    line noise every 20 ms (G.711 µ-law) and, at the given times, the keys as RFC 4733 events in place
    of audio, all from one SSRC with coherent sequence numbers and timestamps, as a real phone sends
    them (interleaving two streams made Asterisk see a key twice).

    ``presses`` are (milliseconds after the previous burst, keys); keys of a burst are ``gap`` apart.
    ``speech`` are (seconds from the start, 8 kHz 16-bit audio): what the caller says, in place of the
    line noise from then on.
    """
    from ..sim.sip import mulaw_encode

    spoken: dict[int, bytes] = {}  # 20 ms slot -> the caller's voice (µ-law)
    for start, pcm in speech:
        voice = mulaw_encode(pcm + b"\0" * (-len(pcm) % 320))
        first = round(start / 0.02)
        for n in range(len(voice) // 160):
            spoken[first + n] = voice[n * 160:(n + 1) * 160]

    events: dict[int, tuple[int, int]] = {}  # 20 ms slot -> (event, slot index within the key)
    at = 0.0
    for pause, keys in presses:
        at += pause / 1000
        for k, key in enumerate(keys):
            first = round((at + k * gap) / 0.02)
            for n in range(7):  # 140 ms per key
                events[first + n] = (_EVENTS[key], n)
        at += len(keys) * gap
    slots = max(round((at + tail) / 0.02), max(spoken, default=0) + round(tail / 0.02))
    noise = mulaw_encode(line_noise(1.0))
    ssrc, seq, packets = 0x34003400, 0, []
    event_ts = 0
    for slot in range(slots):
        t, ts = slot * 0.02, slot * 160
        if slot in events:
            event, n = events[slot]
            if n == 0:
                event_ts = ts
            packets.append((t, 101, n == 0, event_ts, struct.pack("!BBH", event, 10, (n + 1) * 160)))
            if n == 6:  # the end of the event, sent three times
                end = struct.pack("!BBH", event, 0x80 | 10, 7 * 160)
                packets += [(t + 0.001 * (r + 1), 101, False, event_ts, end) for r in range(3)]
            continue
        packets.append((t, 0, False, ts, spoken.get(slot) or noise[(slot % 50) * 160:(slot % 50 + 1) * 160]))
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap header, Ethernet frames
    for t, pt, marker, ts, payload in packets:
        rtp = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
        seq += 1
        udp = struct.pack("!HHHH", 40000, 40002, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                         bytes([10, 0, 0, 2])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        out.append(struct.pack("<IIII", 1 + int(t), int(round((t % 1) * 1e6)) % 1_000_000, len(frame), len(frame))
                   + frame)
    path.write_bytes(b"".join(out))
    return path


def scenario_xml(workdir: Path, user: str, password: str, stream: Path | None = None) -> Path:
    """The SIPp scenario for this run: credentials and the caller's RTP stream (default: the keypad
    self-service path) filled into the template."""
    stream = stream or caller_pcap(workdir / "caller.pcap", keypad_presses())
    xml = (TEMPLATE.read_text(encoding="utf-8").replace("@@USER@@", user).replace("@@PASSWORD@@", password)
           .replace("@@CALLER_RTP@@", str(stream)))
    path = workdir / "caller.xml"
    path.write_text(xml, encoding="utf-8")
    return path


async def _sipp(lab: Lab, xml: Path, calls: int, concurrency: int, rate: float) -> dict[str, Any]:
    workdir = xml.parent
    callers = workdir / "callers.csv"
    callers.write_text("SEQUENTIAL\n" + "".join(f"06{70000000 + i:08d};{CALL_TIME}\n" for i in range(calls)))
    media = free_udp_range(4)[0]  # SIPp's media port and the next ones (RTP/RTCP)
    argv = ["sipp", f"{lab.host}:{lab.sip_port}", "-sf", str(xml), "-inf", str(callers), "-s", "tester",
            "-i", lab.host, "-p", "0", "-m", str(calls), "-l", str(concurrency), "-r", str(rate),
            "-mi", lab.host, "-mp", str(media), "-cp", str(free_port(kind=socket.SOCK_DGRAM)),
            "-trace_err", "-trace_rtt",
            "-rtt_freq", "1", "-timeout", f"{max(300, calls * 3)}s", "-timeout_error", "-nostdin",
            "-trace_screen"]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=workdir, stdout=asyncio.subprocess.DEVNULL,
                                                stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    setup = []
    for rtt in workdir.glob(f"{xml.stem}_*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 3 and parts[2] == "setup":
                setup.append(float(parts[1]))
    screen = "".join(p.read_text(errors="replace") for p in workdir.glob(f"{xml.stem}_*_screen.log"))
    failed = _screen_count(screen, "Failed call")
    return {"exit": proc.returncode, "setup_ms": setup, "sipp_failed": failed,
            "stderr": err.decode(errors="replace")[-500:]}


def _screen_count(screen: str, label: str) -> int | None:
    """A cumulative counter from SIPp's final screen (``Failed call  |  0  |  3``)."""
    for line in reversed(screen.splitlines()):
        if line.strip().startswith(label):
            cells = [c.strip() for c in line.split("|")]
            try:
                return int(cells[-1])
            except (ValueError, IndexError):
                return None
    return None


def _records(path: Path) -> list[dict[str, Any]]:
    """The call records written so far (a line being written is not one yet)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            records.append(json.loads(line))
    return records


def _cpu(pid: int | None) -> float:
    try:
        return proc_cpu_seconds(pid) if pid else 0.0
    except OSError:
        return 0.0


@dataclass
class LevelRun:
    """What one level's run left: the call records, SIPp's figures, the CPU each process used."""

    records: list[dict[str, Any]]
    sipp: dict[str, Any]
    wall: float
    asterisk_cpu: float
    ivr_cpu: float
    asterisk_errors: list[str]
    turns: list[float]

    def cpu(self) -> dict[str, float]:
        """CPU seconds and share of one core of Asterisk and of the IVR over the run."""
        return {"asterisk_cpu_s": round(self.asterisk_cpu, 1), "ivr_cpu_s": round(self.ivr_cpu, 1),
                "asterisk_cpu_pct": round(100 * self.asterisk_cpu / self.wall, 1),
                "ivr_cpu_pct": round(100 * self.ivr_cpu / self.wall, 1)}


async def run_level(options: LabOptions, stream: Callable[[Path], Path], calls: int, concurrency: int,
                    rate: float, progress: Callable[[str], None]) -> LevelRun:
    """One level on a fresh lab started with ``options``: SIPp callers sending the RTP stream
    ``stream(workdir)`` makes; returns once every call's record is written (or never will be)."""
    lab = Lab(options)
    await asyncio.to_thread(lab.start)
    try:
        xml = scenario_xml(lab.dir, "tester", lab.secrets.tester, stream(lab.dir))
        ast_pid = lab.asterisk.proc.pid if lab.asterisk and lab.asterisk.proc else None
        ivr_pid = lab.ivr.proc.pid if lab.ivr and lab.ivr.proc else None
        cpu0 = (_cpu(ast_pid), _cpu(ivr_pid))
        progress(f"bench sip: {calls} calls, {concurrency} at once, {rate:g}/s")
        started = time.monotonic()
        sipp = await _sipp(lab, xml, calls, concurrency, rate)
        wall = time.monotonic() - started
        cpu1 = (_cpu(ast_pid), _cpu(ivr_pid))
        # The IVR writes each record as its call ends: wait for the last ones (a missing one is a failure).
        with contextlib.suppress(ConditionTimeout):
            await until(lambda: len(_records(lab.records)) >= calls, f"the IVR's {calls} call records", interval=0.2)
        return LevelRun(_records(lab.records), sipp, wall, cpu1[0] - cpu0[0], cpu1[1] - cpu0[1],
                        lab.asterisk.log_lines(0) if lab.asterisk else [], list(lab.tap.tap.turns) if lab.tap else [])
    finally:
        await asyncio.to_thread(lab.stop)


async def bench_level(calls: int, concurrency: int, rate: float, progress: Callable[[str], None]) -> dict[str, Any]:
    """One concurrency level of keypad callers on a fresh lab."""
    run = await run_level(LabOptions(agi_tap=True), lambda d: caller_pcap(d / "caller.pcap", keypad_presses()),
                          calls, concurrency, rate, progress)
    outcomes = Counter(r.get("outcome", "") for r in run.records)
    not_served = calls - outcomes.get("self_served", 0)
    setup, sipp, turns = run.sipp["setup_ms"], run.sipp, run.turns
    return {
        "calls": calls, "concurrency": concurrency, "rate_per_s": rate,
        "failed": max(not_served, sipp["sipp_failed"] or 0),
        "sipp_failed": sipp["sipp_failed"], "sipp_exit": sipp["exit"], "outcomes": dict(outcomes),
        "setup_ms_p50": round(percentile(setup, 50), 1), "setup_ms_p95": round(percentile(setup, 95), 1),
        "ivr_turn_ms_p50": round(percentile(turns, 50) * 1000, 2),
        "ivr_turn_ms_p95": round(percentile(turns, 95) * 1000, 2), "agi_turns": len(turns),
        **run.cpu(), "wall_s": round(run.wall, 1), "asterisk_errors": run.asterisk_errors[:5],
        **sipp_trouble(sipp),
    }


def sipp_trouble(sipp: dict[str, Any]) -> dict[str, str]:
    """SIPp's own complaint, when it did not run as expected."""
    return {"sipp_error": sipp["stderr"]} if sipp["exit"] not in (0, 1) or not sipp["setup_ms"] else {}


async def run_sip_bench(levels: list[int], *, calls: int | None = None, rate: float = 5.0,
                        progress: Callable[[str], None] = lambda m: None) -> dict[str, Any]:
    """Each level of concurrency on a fresh lab; ``calls`` defaults to the level (every caller at once)."""
    if shutil.which("sipp") is None:
        raise RuntimeError("SIPp is not installed (Debian package sip-tester)")
    runs = []
    for level in levels:
        run = await bench_level(calls or level, level, rate, progress)
        progress(json.dumps(run))
        runs.append(run)
    return {"bench": "sip", "at": datetime.now().isoformat(timespec="seconds"), "runs": runs,
            "failed": sum(r["failed"] for r in runs)}
