"""Drives baresip (Debian's softphone, not written by us) for the e2e suite.

Each phone has its own config folder: one account, G.711, the microphone read
from a WAV file (the call ends when the file ends, so a short file hangs up),
what it hears dumped to WAV (sndfile module), and its keyboard on a UDP port
(cons module): a datagram is typed as keys; during a call a digit starts an
RFC 4733 event and byte 0x04 (the key release) ends it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from ivr.lab.ports import free_port
from ivr.sim.sip import SPEECH_RMS  # what counts as heard, as the product's SIP tester counts it
from ivr.waiting import DEADLINE, wait_until

__all__ = ["Baresip", "free_sip_port", "silence_wav", "speech_share"]


def free_sip_port() -> int:
    """A port for baresip's ``sip_listen``: it listens on UDP and TCP there and on TCP port + 1 (SIP/TLS),
    and fails to start when any of them is taken."""
    return free_port(socket.SOCK_DGRAM, also=(socket.SOCK_STREAM,), span=2)


def silence_wav(path: Path, seconds: float) -> Path:
    """A WAV of near-silence (a little noise, as a real microphone has) for the phone's microphone."""
    rng = np.random.default_rng(3400)
    samples = (rng.normal(0, 20, int(8000 * seconds))).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(samples.tobytes())
    return path


def speech_share(path: Path, start: float = 0.0, end: float | None = None) -> tuple[float, float]:
    """(seconds of speech-level audio, seconds in all) of a WAV, between ``start`` and ``end`` seconds."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)
    pcm = pcm[int(start * rate):None if end is None else int(end * rate)]
    frame = rate // 50
    frames = pcm[: len(pcm) // frame * frame].reshape(-1, frame)
    if not len(frames):
        return 0.0, 0.0
    loud = np.sqrt((frames ** 2).mean(axis=1)) > SPEECH_RMS
    return float(loud.sum()) / 50, len(frames) / 50


class Baresip:
    """One softphone process registered (or not) on the lab's Asterisk."""

    def __init__(self, workdir: Path, *, user: str, password: str = "", registrar: str, register: bool = False,
                 auto_answer: bool = False, mic_seconds: float = 120.0, sip_port: int | None = None,
                 listen_ip: str = "127.0.0.1") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.sip_port = sip_port or free_sip_port()
        self.cons_port = free_port(socket.SOCK_DGRAM, also=(socket.SOCK_STREAM,))  # its console: UDP and TCP
        self.registrar = registrar
        self.log = self.dir / "baresip.log"
        self.proc: subprocess.Popen | None = None
        silence_wav(self.dir / "mic.wav", mic_seconds)
        params = ([f"auth_pass={password}"] if password else []) + [f"regint={60 if register else 0}"]
        if auto_answer:
            params.append("answermode=auto")
        (self.dir / "accounts").write_text(f"<sip:{user}@{registrar}>;{';'.join(params)}\n")
        (self.dir / "config").write_text("\n".join([
            "poll_method epoll",
            f"sip_listen {listen_ip}:{self.sip_port}",
            f"audio_source aufile,{self.dir / 'mic.wav'}",
            "audio_player aufile,/dev/null",
            "audio_alert aufile,/dev/null",
            "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module sndfile.so", "module cons.so", "module menu.so",
            "module account.so",
            f"snd_path {self.dir}",
            f"cons_listen 127.0.0.1:{self.cons_port}",
            "",
        ]))

    def start(self, *commands: str) -> None:
        argv = ["baresip", "-f", str(self.dir), "-s"]
        for c in commands:
            argv += ["-e", c]
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        self.wait_log("baresip is ready")

    def dial(self, uri: str) -> None:
        self.type(f"/dial {uri}\n")

    def type(self, text: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(text.encode(), ("127.0.0.1", self.cons_port))

    def press(self, keys: str, hold: float = 0.2, gap: float = 0.3) -> None:
        """Keys as RFC 4733 events: the key, then the key release."""
        for key in keys:
            self.type(key)
            time.sleep(hold)
            self.type("\x04")
            time.sleep(gap)

    def hangup(self) -> None:
        self.type("b")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_log(self, pattern: str, timeout: float = DEADLINE) -> re.Match:
        """Until the phone's output shows ``pattern`` (fails at once if the phone exits)."""
        def seen() -> re.Match | bool | None:
            exited = self.proc is not None and self.proc.poll() is not None
            return re.search(pattern, self.output()) or exited

        found = wait_until(seen, f"baresip {self.user} to log {pattern!r}", timeout=timeout,
                           seen=lambda: self.output()[-1500:])
        if not isinstance(found, re.Match):
            raise AssertionError(f"baresip {self.user} exited before {pattern!r}:\n{self.output()[-1500:]}")
        return found

    def call_id(self) -> str:
        """The SIP Call-ID of the phone's last call (from its SIP trace, ``-s``)."""
        found = re.findall(r"^Call-ID:\s*(\S+)", self.output(), flags=re.M | re.I)
        if not found:
            raise AssertionError(f"baresip {self.user}: no Call-ID in its SIP trace")
        return found[-1]

    def _heard_pcm(self) -> np.ndarray:
        path = self.heard_wav()
        if path is None:
            return np.zeros(0, dtype=np.float32)
        raw = path.read_bytes()
        at = raw.find(b"data", 0, 512)
        data = raw[at + 8 if at >= 0 else 44:]
        return np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32)

    def wait_heard_whole(self, timeout: float = DEADLINE) -> Path:
        """Until the last call's dump is a whole WAV: baresip writes its header when the call's audio
        stops, a moment after it logs the call closed (a phone stopped before that leaves a header
        without its data chunk)."""
        def whole() -> Path | None:
            path = self.heard_wav()
            if path is None:
                return None
            try:
                with wave.open(str(path), "rb") as w:
                    w.getnframes()
            except (wave.Error, EOFError, OSError):
                return None
            return path

        return wait_until(whole, f"baresip {self.user}: the audio it heard written whole", timeout=timeout)

    def heard_so_far(self) -> int:
        """Samples received so far in the current call (a mark for :meth:`wait_prompt_over`)."""
        return len(self._heard_pcm())

    def wait_prompt_over(self, after: int, quiet: float = 0.8, cap: float = 40.0) -> int:
        """Wait until the IVR spoke after sample ``after`` and then fell quiet (or stopped sending) for
        ``quiet`` seconds; return the new mark. This is how a caller knows a question is over."""
        deadline = time.monotonic() + cap
        spoke = False
        last_size, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            pcm = self._heard_pcm()
            if len(pcm) != last_size:
                last_size, still_since = len(pcm), time.monotonic()
            tail = pcm[after:]
            frames = tail[: len(tail) // 160 * 160].reshape(-1, 160)
            loud = np.sqrt((frames ** 2).mean(axis=1)) > SPEECH_RMS if len(frames) else np.zeros(0, bool)
            spoke = spoke or bool(loud.any())
            if spoke:
                n_quiet = int(quiet * 50)
                if len(loud) >= n_quiet and not loud[-n_quiet:].any():
                    return len(pcm)
                if time.monotonic() - still_since >= quiet:
                    return len(pcm)
            time.sleep(0.1)
        raise AssertionError(f"baresip {self.user}: the IVR did not speak and stop within {cap:g} s")

    def heard_wav(self) -> Path | None:
        """What the phone received in its last call (sndfile's ``*-dec.wav``)."""
        dumps = sorted(self.dir.glob("dump-*-dec.wav"), key=os.path.getmtime)
        return dumps[-1] if dumps else None

    def stop(self) -> None:
        """End the phone at once. (Debian's baresip 1.0 neither exits nor unregisters on ``q``: Asterisk
        finds a registered phone gone when it stops answering qualify, see ``Lab.wait_phone_gone``.)"""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(DEADLINE)
