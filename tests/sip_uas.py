"""A test double of Asterisk's SIP side, for the SIP tester: digest challenge, 200 OK, RTP, BYE."""

from __future__ import annotations

import asyncio
import re
import struct

import numpy as np

from ivr.sim.sip import digest_response, mulaw_encode


class UasDouble(asyncio.DatagramProtocol):
    def __init__(self, password: str, rtp_port: int) -> None:
        self.password = password
        self.rtp_port = rtp_port
        self.transport = None
        self.invites = 0
        self.acks = 0
        self.auth_ok = None
        self.answered = asyncio.Event()
        self.bye_ok = asyncio.Event()
        self.caller_addr = None
        self.caller_rtp = None
        self.nonce = "abc123"
        self.headers = {}

    def connection_made(self, transport):
        self.transport = transport

    def _reply(self, code: str, h: dict, addr, extra: str = "", body: str = "", to_tag: str = "") -> None:
        to = h["to"] + (f";tag={to_tag}" if to_tag and "tag=" not in h["to"] else "")
        lines = [f"SIP/2.0 {code}", f"Via: {h['via']}", f"From: {h['from']}", f"To: {to}",
                 f"Call-ID: {h['call-id']}", f"CSeq: {h['cseq']}"]
        if extra:
            lines.append(extra)
        if body:
            lines += ["Contact: <sip:3400@127.0.0.1>", "Content-Type: application/sdp"]
        lines.append(f"Content-Length: {len(body)}")
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), addr)

    def datagram_received(self, data: bytes, addr) -> None:
        text = data.decode()
        head, _, body = text.partition("\r\n\r\n")
        first, *rest = head.split("\r\n")
        h = {}
        for line in rest:
            k, _, v = line.partition(":")
            h.setdefault(k.strip().lower(), v.strip())
        method = first.split(" ")[0]
        if method == "INVITE":
            self.invites += 1
            self.headers = h
            self.request_line = first
            if "authorization" not in h:
                self._reply("401 Unauthorized", h, addr,
                            extra=f'WWW-Authenticate: Digest realm="asterisk", nonce="{self.nonce}", qop="auth", algorithm=MD5')
                return
            params = dict(re.findall(r'(\w+)="?([^",]+)"?', h["authorization"]))
            expected = digest_response(user=params["username"], password=self.password, realm="asterisk",
                                       nonce=self.nonce, method="INVITE", uri=params["uri"], qop=params.get("qop"),
                                       nc=params.get("nc", "00000001"), cnonce=params.get("cnonce", ""))
            self.auth_ok = expected == params["response"]
            if not self.auth_ok:
                self._reply("403 Forbidden", h, addr)
                return
            m = re.search(r"m=audio (\d+)", body)
            self.caller_rtp = ("127.0.0.1", int(m.group(1)))
            self.caller_addr = addr
            sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
                   f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n")
            self._reply("200 OK", h, addr, body=sdp, to_tag="uas1")
            self.answered.set()
        elif method == "ACK":
            self.acks += 1
        elif method == "BYE":
            self._reply("200 OK", h, addr)
            self.bye_ok.set()
        elif first.startswith("SIP/2.0 200") and "BYE" in h.get("cseq", ""):
            self.bye_ok.set()

    def send_bye(self) -> None:
        h = self.headers
        lines = ["BYE sip:tester@127.0.0.1 SIP/2.0", "Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKuasbye",
                 f"From: {h['to']};tag=uas1", f"To: {h['from']}", f"Call-ID: {h['call-id']}", "CSeq: 1 BYE",
                 "Content-Length: 0"]
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), self.caller_addr)


class RtpSink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.pcmu = 0
        self.events: list[tuple[int, bool]] = []

    def datagram_received(self, data: bytes, addr) -> None:
        pt = data[1] & 0x7F
        if pt == 0:
            self.pcmu += 1
        elif pt == 101:
            event, flags, _ = struct.unpack("!BBH", data[12:16])
            self.events.append((event, bool(flags & 0x80)))


def prompt_audio(seconds: float) -> list[bytes]:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (6000 * np.sin(2 * np.pi * 400 * t)).astype("<i2").tobytes()
    data = mulaw_encode(pcm)
    return [data[i:i + 160] for i in range(0, len(data), 160)]


async def play_prompt(transport, to, seconds: float) -> None:
    for n, frame in enumerate(prompt_audio(seconds)):
        transport.sendto(struct.pack("!BBHII", 0x80, 0, n, n * 160, 1234) + frame, to)
        await asyncio.sleep(0.02)
