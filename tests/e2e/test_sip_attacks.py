"""SIP attacks on the real Asterisk 22 running the product's configuration (security round 3).

- Toll fraud: every account (and none) dials every number and trick the audit tried, including an
  agent's dial string with a second channel in it; the operator's trunk (a listener of the test's)
  never sees an INVITE.
- Forged caller fields: a From user (through the trunk) and a P-Asserted-Identity (through the tester)
  holding line breaks, written to forge AMI events and AGI fields; the call runs as any call, under
  its real identity, and nothing the IVR reads from the manager moves.
- Brute force: wrong passwords are written to Asterisk's security log, which the shipped fail2ban
  filter reads: each attempt matched, with the attacker's address.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from ivr.sim.scenario import Scenario
from ivr.sim.sip import AdminRecords, SipCaller, digest_response
from ivr.waiting import ConditionTimeout, wait_until
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch

ROOT = Path(__file__).resolve().parents[2]
FAIL2BAN = ROOT / "asterisk" / "fail2ban"

#: What the audit dialled: premium and international numbers, a second channel after '&', a channel
#: and a trunk named outright, the dialplan's special extensions and a pattern.
TRICKS = ["0899123456", "+441234567890", "00441234567890", "0612345678", "0633000005",
          "agent2%26PJSIP%2F0899123456%40trunk", "PJSIP%2F0899123456%40trunk", "0899123456%40trunk",
          "s", "h", "i", "t", "_X.", "3400", "3499"]
#: The IVR's entries each test phone reaches (test profile); nothing else answers, for anyone.
ANSWERED = {("tester", "3400"), ("tester", "3499"), ("phone1", "3400"), ("phone1", "3499")}


class TrunkDouble(asyncio.DatagramProtocol):
    """The operator's side of the trunk (a test double): keeps the first line of every request it gets."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def datagram_received(self, data: bytes, addr) -> None:
        first = data.split(b"\r\n", 1)[0].decode(errors="replace")
        if not first.startswith("SIP/2.0"):
            self.requests.append(first)


def _hang_up_at_once(name: str) -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN}, "steps": [{"kind": "hangup"}]})


async def test_no_account_and_no_dialled_text_reaches_the_operator_trunk(lab, phone_port, report):
    loop = asyncio.get_running_loop()
    transport, trunk = await loop.create_datagram_endpoint(TrunkDouble, local_addr=("127.0.0.1", phone_port))
    accounts = {"agent1": lab.secrets.agent1, "agent2": lab.secrets.agent2, "tester": lab.secrets.tester,
                "phone1": lab.secrets.phone1, "nobody": ""}
    sem = asyncio.Semaphore(8)

    async def dial(user: str, target: str) -> tuple[str, str, bool]:
        caller = SipCaller(f"127.0.0.1:{lab.sip_port}", user, accounts[user], number=target, test_number="",
                           local_ip="127.0.0.1", max_prompt_wait=30, stay_in_queue=0)
        async with sem:
            result = await caller.call(_hang_up_at_once(f"{user} → {target}"))
        return user, target, result.answered

    try:
        results = await asyncio.gather(*(dial(user, target) for user in accounts for target in TRICKS))
    finally:
        transport.close()
    answered = {(user, urllib.parse.unquote(target)) for user, target, ok in results if ok}
    report(test="toll fraud", caller="SipCaller", scenario=f"{len(results)} dial attempts",
           answered=sorted(answered), trunk_requests=trunk.requests)
    assert trunk.requests == []  # not one INVITE (or anything) towards the operator
    assert answered == ANSWERED


def _escaped(text: str) -> str:
    return urllib.parse.quote(text, safe="")


#: Written to forge a queue event (the audit's 250 callers) and an AGI field, after a real-looking number.
FORGED = ("0612345678\r\n\r\nEvent: QueueCallerJoin\r\nPrivilege: agent,all\r\nQueue: inhouse\r\nCount: 250\r\n"
          "Uniqueid: 1796000000.77\r\nagi_network_script: autre-flux\r\n\r\n")


def _no_file_number(name: str, caller: str = "") -> Scenario:
    steps = [{"kind": "press", "digits": "1"}, {"kind": "press", "digits": "2"}]  # carte grise, no file number
    call = {"at": OPEN, **({"caller": caller} if caller else {})}
    return Scenario.model_validate({"name": name, "call": call, "steps": steps})


async def test_line_breaks_in_caller_fields_forge_neither_an_ami_event_nor_the_call(lab, phone_port, report):
    records = AdminRecords(lab.admin_url, lab.secrets.admin_token)
    # Through the operator's trunk (recognised by its address and port): the From user is the caller ID.
    trunk = SipCaller(f"127.0.0.1:{lab.sip_port}", _escaped(FORGED), "", number="3400", test_number="",
                      local_ip="127.0.0.1", local_sip_port=phone_port, stay_in_queue=1, record=records)
    # Through the tester, which trusts P-Asserted-Identity as a trunk does.
    tester = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, number="3400", test_number="",
                       local_ip="127.0.0.1", stay_in_queue=1, record=records)
    async with AmiWatch(lab.ami_port, lab.secrets.ami_user, lab.secrets.ami_secret) as ami:
        via_trunk = await trunk.call(_no_file_number("trunk, forged From"))
        via_tester = await tester.call(_no_file_number("tester, forged PAI", caller=_escaped(FORGED)))
        calls = [via_trunk, via_tester]
        found = [await records(c.call_id) for c in calls]
        metrics = lab._admin("/metrics", 60).decode()
        seen = [e for _, e in ami.seen]
    for call, record in zip(calls, found, strict=True):
        report(test="forged caller fields", caller=call.scenario, outcome=record and record["outcome"],
               reason=record and record["reason"], caller_recorded=record and record["caller"])
        # The call ran as any call: the menu, the hand-off, one record under its real identity.
        assert call.answered and record is not None, call.error
        assert (record["outcome"], record["reason"], record["request"]) == (
            "routed:contractor", "no_file_number", "ants-3400")
        assert re.fullmatch(r"\d+\.\d+", record["uniqueid"]) and record["uniqueid"] != "1796000000.77"
        assert set(record["caller"]) <= set("0123456789*+")  # only digits reached it (masked)
    # Nothing the IVR reads from the manager was forged: no such event, no 250 callers, nothing refused
    # (the events carrying raw caller fields never reach the IVR's manager account).
    assert not [e for e in seen if e.get("Uniqueid") == "1796000000.77" or e.get("Count") == "250"]
    assert not [e for e in seen if any(ch in str(v) for v in e.values() for ch in "\r\n")]
    assert re.search(r'^ivr_queue_callers\{queue="inhouse"\} [01]\.0$', metrics, re.M), metrics
    assert "ivr_ami_events_refused 0.0" in metrics


def _register_once(sock, lab, user: str, password: str, n: int, expires: int = 60) -> bytes:
    """REGISTER, then REGISTER again answering the challenge; Asterisk's final answer."""
    host = f"127.0.0.1:{lab.sip_port}"
    port = sock.getsockname()[1]
    uri = f"sip:{host}"

    def request(cseq: int, auth: str = "") -> bytes:
        lines = [f"REGISTER {uri} SIP/2.0", f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKbf{n}x{cseq};rport",
                 "Max-Forwards: 70", f"From: <sip:{user}@{host}>;tag=bf{n}", f"To: <sip:{user}@{host}>",
                 f"Call-ID: brute-force-{n}@127.0.0.1", f"CSeq: {cseq} REGISTER",
                 f"Contact: <sip:{user}@127.0.0.1:{port}>", f"Expires: {expires}", *([auth] if auth else []),
                 "Content-Length: 0"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    sock.sendto(request(1), ("127.0.0.1", lab.sip_port))
    challenge = _answer(sock, n).decode(errors="replace")
    params = dict(re.findall(r'(\w+)="?([^",\r\n]+)"?', challenge.split("WWW-Authenticate:", 1)[-1]))
    qop = "auth" if "auth" in params.get("qop", "") else None
    response = digest_response(user=user, password=password, realm=params.get("realm", ""),
                               nonce=params.get("nonce", ""), method="REGISTER", uri=uri, qop=qop, cnonce="b1")
    auth = (f'Authorization: Digest username="{user}", realm="{params.get("realm", "")}", '
            f'nonce="{params.get("nonce", "")}", uri="{uri}", response="{response}", algorithm=MD5'
            + (', qop=auth, nc=00000001, cnonce="b1"' if qop else ""))
    sock.sendto(request(2, auth), ("127.0.0.1", lab.sip_port))
    return _answer(sock, n)


def _answer(sock, n: int) -> bytes:
    """Asterisk's answer to this REGISTER, skipping any request it sends meanwhile (a qualify OPTIONS)."""
    while True:
        message = sock.recv(65536)
        if message.startswith(b"SIP/2.0 ") and f"Call-ID: brute-force-{n}@".encode() in message:
            return message


def test_wrong_passwords_are_written_where_fail2ban_reads_them(lab, report):
    import socket

    log = lab.dir / "asterisk" / "log" / "security"
    before = log.stat().st_size if log.exists() else 0
    attempts = 300
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(60)
        sock.bind(("127.0.0.1", 0))
        attacker = sock.getsockname()[1]
        answers = [_register_once(sock, lab, "agent1", f"guess{n}", n).split(b"\r\n", 1)[0] for n in range(attempts)]
        # The right password (Expires: 0, so no stray contact is left for the queue to ring).
        right = _register_once(sock, lab, "agent1", lab.secrets.agent1, attempts, expires=0).split(b"\r\n", 1)[0]
    assert set(answers) <= {b"SIP/2.0 401 Unauthorized", b"SIP/2.0 403 Forbidden"}

    def since_attack() -> list[str]:
        with open(log, "rb") as f:
            f.seek(before)
            return f.read().decode(errors="replace").splitlines()

    def failed_lines(lines: list[str]) -> list[str]:
        return [line for line in lines if 'SecurityEvent="ChallengeResponseFailed"' in line
                and f"RemoteAddress=\"IPV4/UDP/127.0.0.1/{attacker}\"" in line]

    # Asterisk writes security events after it answers (they go through its message bus): wait for them.
    try:
        wait_until(lambda: len(failed_lines(since_attack())) >= attempts, "a security log line per wrong password",
                   seen=lambda: len(failed_lines(since_attack())))
    except ConditionTimeout:
        pass  # the assertion below says how many
    lines = since_attack()
    failed = failed_lines(lines)
    report(test="brute force", caller="REGISTER", scenario=f"{attempts} wrong passwords", answers=sorted(set(map(bytes.decode, answers))),
           security_lines=len(failed), right_password=right.decode())
    assert len(failed) >= attempts  # every attempt, with the address fail2ban bans
    # Asterisk itself lets the right password in (the lock-out is fail2ban's, at the firewall).
    assert right == b"SIP/2.0 200 OK"
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban is not installed: the filter's matches are not checked (apt-get install fail2ban)")
    (tmp := lab.dir / "security-since-attack.log").write_text("\n".join(lines) + "\n")
    done = subprocess.run(["fail2ban-regex", str(tmp), str(FAIL2BAN / "filter.d" / "asterisk-3400.conf")],
                          capture_output=True, text=True, timeout=120)
    matched = re.search(r"^Lines: \d+ lines, \d+ ignored, (\d+) matched", done.stdout, re.M)
    assert done.returncode == 0 and matched and int(matched.group(1)) >= attempts, done.stdout[-2000:]
