"""A small SIP/RTP caller for the docker tester and the e2e suite: real SIP calls to 3400 through Asterisk.

It places a call (INVITE with digest authentication, G.711 µ-law, RFC 4733
telephone events; the scenario's caller number in P-Asserted-Identity, as a
trunk delivers it), then plays a scenario's steps: it waits for the IVR's
prompt to end (the received audio falls quiet), then presses keys (RFC 4733
events), speaks (offline voice, µ-law), stays silent, or hangs up (BYE).
Outcomes are checked afterwards against the IVR's call record, found by the
call's SIP Call-ID (admin HTTP), since a SIP phone cannot see channel variables.
What the caller heard is measured too: the share of the IVR's part of the call
during which the received audio had speech-level energy.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import re
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from typing_extensions import override

from ..waiting import DEADLINE, ConditionTimeout, until
from .noise import LineNoise
from .notices import NO_SWITCH, AdminNotices, scenario_notices
from .scenario import Hangup, Press, Say, Scenario, Silence, Wait

__all__ = ["SipCaller", "SipCallResult", "mulaw_encode", "mulaw_decode", "digest_response", "run_sip_scenarios",
           "AdminRecords", "check_against_record"]

PT_PCMU = 0
PT_EVENT = 101
#: RMS of a 20 ms frame above which it counts as heard (about -40 dBFS; speech is louder, line noise quieter).
SPEECH_RMS = 300
_DTMF_EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


def mulaw_encode(pcm: bytes) -> bytes:
    """16-bit linear → G.711 µ-law."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    sign = (x < 0).astype(np.int32) << 7
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return bytes((~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes())


def mulaw_decode(data: bytes) -> bytes:
    """G.711 µ-law → 16-bit linear."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = ((mantissa << 3) + 0x84) << exponent
    x = np.where(sign != 0, 0x84 - mag, mag - 0x84)
    return x.astype("<i2").tobytes()


def digest_response(*, user: str, password: str, realm: str, nonce: str, method: str, uri: str,
                    qop: str | None = None, nc: str = "00000001", cnonce: str = "") -> str:
    """RFC 2617 digest (MD5), as SIP servers such as Asterisk's PJSIP check it."""
    def md5(text: str) -> str:  # the digest is MD5 by definition
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"{user}:{realm}:{password}")
    ha2 = md5(f"{method}:{uri}")
    if qop:
        return md5(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return md5(f"{ha1}:{nonce}:{ha2}")


def check_against_record(scenario: Scenario, record: dict[str, Any] | None) -> list[str]:
    """What the IVR recorded for the call, against the scenario's expectations.

    A SIP phone sees neither prompts nor channel variables: the outcome, queue
    and reason come from the IVR's call record (admin ``/calls/recent``).
    """
    exp = scenario.expect
    if record is None:
        return ["the IVR has no record of this call"] if (exp.outcome or exp.variables) else []
    failures = []
    if exp.outcome and record.get("outcome") != exp.outcome:
        failures.append(f"outcome {record.get('outcome')!r}, expected {exp.outcome!r}")
    for name, field_ in (("IVR_QUEUE", "queue"), ("IVR_REASON", "reason")):
        if name in exp.variables and record.get(field_) != exp.variables[name]:
            failures.append(f"{name}={record.get(field_)!r}, expected {exp.variables[name]!r}")
    return failures


@dataclass
class SipCallResult:
    """A call placed by the SIP tester: answered, what was heard, how it ended."""

    scenario: str
    answered: bool = False
    steps_done: int = 0
    ended_by: str = ""
    seconds: float = 0.0
    #: Seconds of received audio with speech-level energy, over the IVR's part of the call.
    heard_seconds: float = 0.0
    #: The IVR's part of the call: from the answer until the caller hung up, the IVR did, or the
    #: IVR fell quiet after the last step (the caller is then in the queue), minus scripted silences.
    ivr_seconds: float = 0.0
    error: str = ""
    caller: str = ""
    call_id: str = ""

    @property
    def passed(self) -> bool:
        """Whether the call was answered and ran without error."""
        return self.answered and not self.error

    @property
    def heard_ratio(self) -> float:
        """The share of the IVR's audio the phone heard."""
        return self.heard_seconds / self.ivr_seconds if self.ivr_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The result as JSON."""
        return {"scenario": self.scenario, "answered": self.answered, "steps_done": self.steps_done,
                "ended_by": self.ended_by, "heard_seconds": round(self.heard_seconds, 1),
                "ivr_seconds": round(self.ivr_seconds, 1), "heard_ratio": round(self.heard_ratio, 2),
                "seconds": round(self.seconds, 1), "call_id": self.call_id, "caller": self.caller,
                "error": self.error}


class _Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        # Bounded: datagrams arriving faster than they are read are dropped, as UDP allows.
        self.queue: asyncio.Queue[tuple[bytes, tuple[Any, ...]]] = asyncio.Queue(maxsize=2000)
        self.transport: asyncio.DatagramTransport | None = None

    @override
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A datagram endpoint's transport (Python 3.11's selector transport does not inherit the class).
        self.transport = cast(asyncio.DatagramTransport, transport)

    @override
    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((data, addr))


def _parse(msg: bytes) -> tuple[str, dict[str, str], str]:
    text = msg.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), v.strip())
    return lines[0], headers, body


async def _first_of(*events: asyncio.Event | None, timeout: float) -> asyncio.Event | None:
    """The first of ``events`` (None ones left out) to be set within ``timeout`` seconds; None if none was."""
    waiting = {asyncio.ensure_future(e.wait()): e for e in events if e is not None}
    try:
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waiting:
            task.cancel()
    return next((waiting[task] for task in done), None)


class SipCaller:
    """Places one SIP call per scenario to ``number`` through ``proxy``."""

    def __init__(self, proxy: str, user: str, password: str, *, number: str = "3400", test_number: str = "3499",
                 local_ip: str | None = None, quiet_after_prompt: float = 0.8, max_prompt_wait: float = 30.0,
                 silence_seconds: float = 7.0, stay_in_queue: float = 20.0, record: "RecordLookup | None" = None,
                 ivr_quiet_done: float = 8.0, local_sip_port: int = 0) -> None:
        self.test_number = test_number
        host, _, port = proxy.rpartition(":")
        self.proxy = (host or proxy, int(port or 5060))
        self.user = user
        self.password = password
        self.number = number
        self.local_ip = local_ip or self._local_ip()
        self.quiet_after_prompt = quiet_after_prompt
        self.max_prompt_wait = max_prompt_wait
        self.silence_seconds = silence_seconds
        self.stay_in_queue = stay_in_queue
        #: Finds the IVR's call record by SIP Call-ID: the IVR's part is over once it exists.
        self.record = record
        self.ivr_quiet_done = ivr_quiet_done
        #: The UDP port calls leave from (0: any): an operator's trunk is recognised by its address and port.
        self.local_sip_port = local_sip_port

    def _local_ip(self) -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.connect(self.proxy)
                return str(s.getsockname()[0])
            except OSError:
                return "127.0.0.1"

    async def call(self, scenario: Scenario, *, leave: asyncio.Event | None = None) -> SipCallResult:
        """Place the scenario's call. Once the IVR's part is over (the caller is in the queue), the caller
        stays ``stay_in_queue`` seconds, or until ``leave`` is set when given, then hangs up."""
        loop = asyncio.get_running_loop()
        result = SipCallResult(scenario.name, caller=scenario.call.caller)
        started = time.monotonic()
        sip_t, sip = await loop.create_datagram_endpoint(_Udp, local_addr=(self.local_ip, self.local_sip_port))
        rtp_t, rtp = await loop.create_datagram_endpoint(_Udp, local_addr=(self.local_ip, 0))
        dialog: dict[str, Any] | None = None
        try:
            sim_now = scenario.call.at.isoformat() if scenario.call.at else ""
            dialog = self._new_dialog(sip)
            result.call_id = dialog["call_id"]
            if not await self._invite(sip, dialog, rtp_t.get_extra_info("sockname")[1], sim_now,
                                      caller=scenario.call.caller):
                result.error = "the call was not answered"
                return result
            result.answered = True
            noise = scenario.call.noise
            media = _Media(rtp, rtp_t, dialog["remote_rtp"],
                           noise=LineNoise(noise.kind, noise.rms) if noise is not None else None)
            media.start()
            try:
                await self._converse(scenario, sip, dialog, media, result, leave)
            finally:
                await media.stop()
        except (OSError, asyncio.TimeoutError) as exc:
            result.error = f"SIP error: {exc or type(exc).__name__}"
        finally:
            if dialog is not None and dialog.get("server") is not None:
                dialog["server"].cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await dialog["server"]
            sip_t.close()
            rtp_t.close()
            result.seconds = time.monotonic() - started
        return result

    async def _converse(self, scenario: Scenario, sip: _Udp, dialog: dict[str, Any], media: "_Media",
                        result: SipCallResult, leave: asyncio.Event | None = None) -> None:
        """Play the steps as a caller would: each answers the IVR's next prompt once it is over.

        A step waits for the IVR to speak again after the caller's last action (so keys typed
        while the IVR still collects digits are not mistaken for an answer to the next question),
        then for the prompt to end; ``barge`` steps (and hang-ups) act one second into the prompt.
        """
        bye = dialog["bye"]
        answered = last_action = time.monotonic()
        scripted_quiet = 0.0
        ivr_done: float | None = None
        try:
            for step in scenario.steps:
                if bye.is_set():
                    break
                if isinstance(step, Wait):
                    await asyncio.sleep(step.seconds)
                    scripted_quiet += step.seconds
                    continue
                await media.until_loud(last_action, self.max_prompt_wait, bye)
                if getattr(step, "barge", False) or isinstance(step, Hangup):
                    await asyncio.sleep(1.0)
                else:
                    await media.until_quiet(self.quiet_after_prompt, self.max_prompt_wait, bye)
                if bye.is_set():
                    break
                if isinstance(step, Press):
                    for key in step.digits:
                        await media.dtmf(key)
                elif isinstance(step, Say):
                    from .voice import caller_audio

                    await media.play(caller_audio(step))
                elif isinstance(step, Silence):
                    await asyncio.sleep(self.silence_seconds)
                    scripted_quiet += self.silence_seconds
                elif isinstance(step, Hangup):
                    await self._bye(sip, dialog)
                    result.ended_by = "caller"
                    break
                last_action = time.monotonic()
                result.steps_done += 1
            if not result.ended_by and not bye.is_set():
                # The IVR's last words (a goodbye, or the hand-off), then it hangs up a served call
                # or hands the caller to the queue (its call record is then written).
                await media.until_loud(last_action, self.max_prompt_wait, bye)
                await self._until_ivr_done(result.call_id, media, bye)
                ivr_done = time.monotonic()
                if await _first_of(bye, leave, timeout=self.stay_in_queue) is bye:
                    result.ended_by = "ivr"
                else:
                    await self._bye(sip, dialog)
                    result.ended_by = "caller (queue reached)"
            elif not result.ended_by:
                result.ended_by = "ivr"
        finally:
            end = ivr_done or dialog.get("bye_at") or time.monotonic()
            result.ivr_seconds = max(0.0, end - answered - scripted_quiet)
            result.heard_seconds = media.loud_seconds(answered, end)

    async def _until_ivr_done(self, call_id: str, media: "_Media", bye: asyncio.Event, cap: float = 90.0) -> None:
        """Until the IVR hangs up, its call record exists (when it can be looked up), or it stays
        quiet longer than any question waits for an answer."""
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline and not bye.is_set():
            if self.record is not None and await self.record(call_id, 0):
                return
            if self.record is None and time.monotonic() - media.last_loud >= self.ivr_quiet_done:
                return
            await asyncio.sleep(0.25)

    # -- SIP ---------------------------------------------------------------------

    def _request(self, method: str, uri: str, dialog: dict[str, Any], cseq: int, *, body: str = "", extra: str = "",
                 to_tag: str = "") -> bytes:
        branch = f"z9hG4bK{uuid.uuid4().hex[:16]}"
        to = f"<sip:{self.number}@{self.proxy[0]}>" + (f";tag={to_tag}" if to_tag else "")
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.local_ip}:{dialog['sip_port']};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@{self.proxy[0]}>;tag={dialog['tag']}",
            f"To: {to}",
            f"Call-ID: {dialog['call_id']}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:{self.user}@{self.local_ip}:{dialog['sip_port']}>",
            "User-Agent: ivr-3400-tester",
        ]
        if extra:
            lines.append(extra)
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()

    def _sdp(self, rtp_port: int) -> str:
        sid = random.randint(1000, 9999999)
        return "\r\n".join([
            "v=0", f"o=- {sid} {sid} IN IP4 {self.local_ip}", "s=ivr-3400-tester", f"c=IN IP4 {self.local_ip}",
            "t=0 0", f"m=audio {rtp_port} RTP/AVP {PT_PCMU} {PT_EVENT}", f"a=rtpmap:{PT_PCMU} PCMU/8000",
            f"a=rtpmap:{PT_EVENT} telephone-event/8000", f"a=fmtp:{PT_EVENT} 0-16", "a=ptime:20", "a=sendrecv", ""])

    def _new_dialog(self, sip: _Udp) -> dict[str, Any]:
        assert sip.transport is not None
        return {"call_id": f"{uuid.uuid4().hex}@{self.local_ip}", "tag": uuid.uuid4().hex[:10],
                "sip_port": sip.transport.get_extra_info("sockname")[1], "cseq": 1, "bye": asyncio.Event(),
                "server": None}

    async def _invite(self, sip: _Udp, dialog: dict[str, Any], rtp_port: int, sim_now: str = "", *, caller: str = "") -> bool:
        """INVITE (answering one digest challenge); True once answered and acknowledged."""
        assert sip.transport is not None
        number = self.test_number if sim_now and self.test_number else self.number
        uri = f"sip:{number}@{self.proxy[0]}:{self.proxy[1]}"
        dialog["uri"] = uri
        body = self._sdp(rtp_port)
        auth = ""
        fixed = [f"X-IVR-Sim-Now: {sim_now}" if sim_now else "",
                 f"P-Asserted-Identity: <sip:{caller}@{self.proxy[0]}>" if caller else ""]
        for _attempt in range(3):
            extra = "\r\n".join(h for h in (auth, *fixed) if h)
            sip.transport.sendto(self._request("INVITE", uri, dialog, dialog["cseq"], body=body, extra=extra),
                                 self.proxy)
            while True:
                data, addr = await asyncio.wait_for(sip.queue.get(), 30)
                status, headers, rbody = _parse(data)
                m = re.match(r"SIP/2.0 (\d{3})", status)
                if not m:
                    continue
                code = int(m.group(1))
                if code < 200:
                    continue
                tag = re.search(r"tag=([^;>\s]+)", headers.get("to", ""))
                to_tag = tag.group(1) if tag else ""
                if code in (401, 407):
                    self._ack(sip, dialog, to_tag, uri)
                    challenge = headers.get("www-authenticate") or headers.get("proxy-authenticate", "")
                    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))
                    qop = "auth" if "auth" in params.get("qop", "").split(",") else None
                    cnonce = uuid.uuid4().hex[:8]
                    resp = digest_response(user=self.user, password=self.password, realm=params.get("realm", ""),
                                           nonce=params.get("nonce", ""), method="INVITE", uri=uri, qop=qop,
                                           cnonce=cnonce)
                    header = "Authorization" if code == 401 else "Proxy-Authorization"
                    auth = (f'{header}: Digest username="{self.user}", realm="{params.get("realm", "")}", '
                            f'nonce="{params.get("nonce", "")}", uri="{uri}", response="{resp}", algorithm=MD5'
                            + (f', qop=auth, nc=00000001, cnonce="{cnonce}"' if qop else "")
                            + (f', opaque="{params["opaque"]}"' if "opaque" in params else ""))
                    dialog["cseq"] += 1
                    break
                if code == 200:
                    dialog["to_tag"] = to_tag
                    contact = re.search(r"<([^>]+)>", headers.get("contact", "")) or None
                    dialog["remote_uri"] = contact.group(1) if contact else uri
                    c = re.search(r"c=IN IP4 (\S+)", rbody)
                    mport = re.search(r"m=audio (\d+)", rbody)
                    dialog["remote_rtp"] = (c.group(1) if c else addr[0], int(mport.group(1)) if mport else 0)
                    self._ack(sip, dialog, to_tag, dialog["remote_uri"])
                    dialog["server"] = asyncio.get_running_loop().create_task(self._serve_dialog(sip, dialog))
                    return True
                self._ack(sip, dialog, to_tag, uri)
                return False
        return False

    def _ack(self, sip: _Udp, dialog: dict[str, Any], to_tag: str, uri: str) -> None:
        assert sip.transport is not None
        sip.transport.sendto(self._request("ACK", uri, dialog, dialog["cseq"], to_tag=to_tag), self.proxy)

    async def _serve_dialog(self, sip: _Udp, dialog: dict[str, Any]) -> None:
        """Answer in-dialog requests: BYE ends the call; anything else gets 200 OK."""
        assert sip.transport is not None
        while not dialog["bye"].is_set():
            try:
                data, addr = await sip.queue.get()
            except asyncio.CancelledError:
                return
            status, headers, _ = _parse(data)
            if status.startswith("SIP/2.0"):
                continue
            method = status.split(" ", 1)[0]
            reply = "\r\n".join([
                "SIP/2.0 200 OK", f"Via: {headers.get('via', '')}", f"From: {headers.get('from', '')}",
                f"To: {headers.get('to', '')}", f"Call-ID: {headers.get('call-id', '')}",
                f"CSeq: {headers.get('cseq', '')}", "Content-Length: 0", "", ""])
            sip.transport.sendto(reply.encode(), addr)
            if method == "BYE":
                dialog["bye_at"] = time.monotonic()
                dialog["bye"].set()

    async def _bye(self, sip: _Udp, dialog: dict[str, Any]) -> None:
        assert sip.transport is not None
        if dialog["bye"].is_set():
            return
        dialog["cseq"] += 1
        sip.transport.sendto(self._request("BYE", dialog.get("remote_uri", dialog["uri"]), dialog, dialog["cseq"],
                                           to_tag=dialog.get("to_tag", "")), self.proxy)
        dialog["bye"].set()


class _Media:
    """RTP both ways: 20 ms µ-law frames out (silence unless speaking; the line's noise, when the
    scenario gives one, under all of it), energy of what comes in."""

    def __init__(self, rtp: _Udp, transport: asyncio.DatagramTransport, remote: tuple[str, int], *,
                 noise: LineNoise | None = None) -> None:
        self.rtp = rtp
        self.noise = noise
        self.transport = transport
        self.remote = remote
        self.ssrc = random.getrandbits(32)
        self.seq = random.getrandbits(16)
        self.ts = random.getrandbits(32)
        self.outgoing: asyncio.Queue[bytes] = asyncio.Queue()  # 16-bit frames; bounded by what play() is given
        self.last_loud = time.monotonic()
        #: When each loud 20 ms frame arrived (bounded: two hours of audio).
        self.loud_at: deque[float] = deque(maxlen=360_000)
        self._tasks: list[asyncio.Task[Any]] = []
        self._lock = asyncio.Lock()

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._recv_loop())]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass

    def _packet(self, pt: int, payload: bytes, *, marker: bool = False, advance: bool = True) -> bytes:
        header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, self.ts & 0xFFFFFFFF,
                             self.ssrc)
        self.seq += 1
        if advance:
            self.ts += 160
        return header + payload

    async def _send_loop(self) -> None:
        silence = b"\0\0" * 160
        next_at = time.monotonic()
        while True:
            async with self._lock:
                frame = self.outgoing.get_nowait() if not self.outgoing.empty() else silence
                if self.noise is not None:
                    frame = self.noise.mix(frame)
                self.transport.sendto(self._packet(PT_PCMU, mulaw_encode(frame)), self.remote)
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _recv_loop(self) -> None:
        while True:
            data, _ = await self.rtp.queue.get()
            if len(data) < 12 or data[1] & 0x7F != PT_PCMU:
                continue
            pcm = np.frombuffer(mulaw_decode(data[12:]), dtype="<i2").astype(np.float32)
            if pcm.size and float(np.sqrt(np.mean(pcm * pcm))) > SPEECH_RMS:
                self.last_loud = time.monotonic()
                self.loud_at.append(self.last_loud)

    def loud_seconds(self, start: float, end: float) -> float:
        """Seconds of speech-level audio received between two monotonic instants."""
        return sum(1 for t in self.loud_at if start <= t <= end) * 0.02

    async def until_loud(self, after: float, cap: float, bye: asyncio.Event) -> None:
        """Wait until the IVR speaks after the monotonic instant ``after`` (at most ``cap`` seconds)."""
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline and not bye.is_set() and self.last_loud <= after:
            await asyncio.sleep(0.05)

    async def until_quiet(self, quiet: float, cap: float, bye: asyncio.Event) -> None:
        """Wait until the IVR's prompt is over (nothing loud for ``quiet`` seconds)."""
        deadline = time.monotonic() + cap
        while time.monotonic() < deadline and not bye.is_set():
            if time.monotonic() - self.last_loud >= quiet:
                return
            await asyncio.sleep(0.05)

    async def play(self, pcm: bytes) -> None:
        for i in range(0, len(pcm), 320):
            self.outgoing.put_nowait(pcm[i:i + 320].ljust(320, b"\0"))
        while not self.outgoing.empty():
            await asyncio.sleep(0.02)

    async def dtmf(self, key: str, duration_ms: int = 160) -> None:
        """One key as RFC 4733 events: start packet (marker), updates, three end packets."""
        event = _DTMF_EVENTS[key]
        async with self._lock:
            start_ts = self.ts
            steps = duration_ms // 20
            for i in range(steps):
                payload = struct.pack("!BBH", event, 10, (i + 1) * 160)
                pkt = struct.pack("!BBHII", 0x80, (0x80 if i == 0 else 0) | PT_EVENT, self.seq & 0xFFFF, start_ts,
                                  self.ssrc) + payload
                self.seq += 1
                self.transport.sendto(pkt, self.remote)
                await asyncio.sleep(0.02)
            for _ in range(3):
                payload = struct.pack("!BBH", event, 0x80 | 10, steps * 160)
                pkt = struct.pack("!BBHII", 0x80, PT_EVENT, self.seq & 0xFFFF, start_ts, self.ssrc) + payload
                self.seq += 1
                self.transport.sendto(pkt, self.remote)
            self.ts = start_ts + steps * 160
        await asyncio.sleep(0.15)


#: ``lookup(sip_call_id, wait_seconds)`` → the IVR's call record, or None.
RecordLookup = Callable[[str, float], Awaitable["dict[str, Any] | None"]]


async def run_sip_scenarios(caller: SipCaller, scenarios: list[Scenario], *, concurrency: int = 1,
                            record: RecordLookup | None = None, notices: AdminNotices | None = None,
                            ) -> list[tuple[SipCallResult, dict[str, Any] | None, list[str]]]:
    """Place every scenario's call (at most ``concurrency`` at once) and check it.

    ``record`` finds the IVR's call record by SIP Call-ID; each result comes with
    the record and the failures: the call not answered, a SIP error, or an
    expectation the record does not meet. ``notices`` switches on the closure notices scenarios ask
    for; without it those scenarios fail, saying so.
    """
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(sc: Scenario) -> tuple[SipCallResult, dict[str, Any] | None, list[str]]:
        async with sem:
            result = await caller.call(sc)
        rec = await record(result.call_id, DEADLINE) if record is not None and result.answered else None
        failures = [result.error] if result.error else []
        if not result.answered and not result.error:
            failures.append("the call was not answered")
        if record is not None:
            failures += check_against_record(sc, rec)
        if sc.name in unmet:
            failures.insert(0, NO_SWITCH)
        return result, rec, failures

    async with scenario_notices(scenarios, notices) as unmet:
        return list(await asyncio.gather(*(one(sc) for sc in scenarios)))


class AdminRecords:
    """Finds call records through the IVR's admin HTTP (``/calls/recent?sip_call_id=``)."""

    def __init__(self, admin_url: str, token: str = "") -> None:
        self.url = admin_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def __call__(self, sip_call_id: str, wait: float = DEADLINE) -> dict[str, Any] | None:
        """The console's record of the call with this SIP Call-ID, once it is there (None past ``wait``)."""
        import aiohttp

        async with aiohttp.ClientSession(headers=self.headers) as http:

            async def found() -> dict[str, Any] | None:
                async with http.get(f"{self.url}/calls/recent",
                                    params={"limit": "200", "sip_call_id": sip_call_id}) as resp:
                    calls = (await resp.json()).get("calls", []) if resp.status == 200 else []
                return calls[-1] if calls else None

            # The IVR writes the record as the call ends, just after the caller's BYE.
            try:
                return await until(found, f"the record of SIP call {sip_call_id}", timeout=wait, interval=0.25)
            except ConditionTimeout:
                return None
