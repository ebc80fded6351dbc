"""The security audit's attacks, replayed over real sockets (or against the real process): each held.

One peer or one caller must not hurt everybody: bounded replies, bounded connections, no toll fraud
through callbacks, only Asterisk may talk FastAGI/AudioSocket, no personal data in logs or file names,
every question and every failure path bounded, a safe admin page.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import resource
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from ivr.edges.audiosocket.protocol import KIND_AUDIO, KIND_UUID, encode_frame
from ivr.edges.audiosocket.server import AudioSocketServer
from ivr.interfaces import Question
from ivr.lab.ports import free_port
from ivr.listening.speech import SpeechListener, SpeechSettings
from ivr.logs import configure_logging
from ivr.routing.callback_numbers import CallbackNumbers
from ivr.server.embedded import embedded_server
from ivr.sim.ami import SimAmi
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.store.sqlite import SqliteStore
from ivr.tts.dynamic import DynamicPrompts
from ivr.tts.sentences import callback_confirmation, say_digits_text
from ivr.waiting import DEADLINE, until, wait_until
from tests.clocks import OPEN

ROOT = Path(__file__).resolve().parent.parent
ENV = (b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://127.0.0.1/ants-3400\n"
       b"agi_channel: PJSIP/x-1\nagi_uniqueid: sec.1\nagi_callerid: 0612345678\nagi_callingpres: 0\n"
       b"agi_threadid: 1\n\n")
SIMPLE = "5458443881"  # carte grise, in the stub's dataset


def call(*steps, caller="0612345678", presentation=0, name="appel", **expect) -> Scenario:
    return Scenario.model_validate({"name": name, "call": {"at": OPEN, "caller": caller, "presentation": presentation},
                                    "steps": [{"kind": "press", "digits": d} if isinstance(d, str) else d for d in steps],
                                    "expect": expect})


async def _open(port: int, source: str | None = None):
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0) if source else None)


async def _closed_at_once(reader: asyncio.StreamReader) -> bool:
    """The server closed the connection without sending anything."""
    try:
        return await asyncio.wait_for(reader.read(), DEADLINE) == b""
    except ConnectionResetError:  # aborted: the descriptor was freed at once
        return True


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True when the server closes the connection (whatever it sends first); False when it still
    has not after :data:`DEADLINE` seconds (while the peer goes on sending, it would never)."""
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            chunk = await asyncio.wait_for(reader.read(65536), deadline - time.monotonic())
            if not chunk:
                return True
    except asyncio.TimeoutError:
        return False
    except ConnectionError:  # closed with our data unread: the kernel resets the connection
        return True
    return False


# -- 1. unbounded AGI replies --------------------------------------------------------------------


async def test_an_endless_usage_reply_is_cut_and_the_peer_dropped():
    async with embedded_server() as srv:
        reader, writer = await _open(srv.agi_port)
        writer.write(ENV)
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"520-Invalid command syntax.  Proper usage follows:\n")

        async def flood() -> int:
            sent = 0
            try:
                while sent < 2_000_000:  # 2 million usage lines (about 60 MB) if nobody stops us
                    writer.write(b"Usage: ANSWER and a very long explanation that never ends\n" * 100)
                    await writer.drain()
                    sent += 100
            except (ConnectionError, OSError):
                pass
            return sent

        flooding = asyncio.create_task(flood())
        assert await _closed_by_server(reader), "the server kept reading an endless usage reply"
        flooding.cancel()
        writer.close()
        [record] = await until(lambda: srv.memory_records.records, "the call's record")
        # Cut by whichever bound came first: the usage reply's lines, or lines read ahead of the IVR.
        assert record.outcome == "error_routed" and record.queue == "contractor"
        assert "usage reply longer than 64 lines" in record.error or "no command asked for" in record.error


async def test_lines_nobody_asked_for_do_not_pile_up():
    async with embedded_server() as srv:
        reader, writer = await _open(srv.agi_port)
        writer.write(ENV)
        assert await reader.readline() == b"ANSWER\n"
        writer.write(b"200 result=0\n" * 50_000)  # one reply asked for, 49,999 more
        await writer.drain()
        assert await _closed_by_server(reader)
        writer.close()
        [record] = await until(lambda: srv.memory_records.records, "the call's record")
        assert "no command asked for" in record.error and record.outcome == "error_routed"


# -- 2. file-descriptor exhaustion (the real process at the systemd default limit) ----------------


def _serve(tmp_path: Path, nofile: tuple[int, int], **env: str) -> tuple[subprocess.Popen, dict[str, int]]:
    ports = {"agi": free_port(), "admin": free_port(), "tracking": free_port()}
    stub = subprocess.Popen([sys.executable, "-m", "ivr", "tracking-stub", "--port", str(ports["tracking"])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    full_env = {**os.environ, "IVR_AGI_PORT": str(ports["agi"]), "IVR_ADMIN_PORT": str(ports["admin"]),
                "IVR_AUDIOSOCKET_PORT": "0", "IVR_RECORDS": str(tmp_path / "calls.jsonl"),
                "IVR_STORE": str(tmp_path / "s.sqlite"), "IVR_ACCEPTED_DIR": str(tmp_path / "accepted"),
                "IVR_DYNAMIC_PROMPTS_DIR": str(tmp_path / "readbacks"),
                "IVR_TRACKING_URL": f"http://127.0.0.1:{ports['tracking']}",
                "IVR_SPEECH": "false", "IVR_ALLOW_SIM_CLOCK": "true", "IVR_LOG_FORMAT": "json",
                "IVR_FLOW_WATCH_INTERVAL": "0", **env}
    log = open(tmp_path / "ivr.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], env=full_env, stdout=log, stderr=log,
                            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile))
    proc.stub = stub  # type: ignore[attr-defined]

    def admin_listens() -> bool:
        try:
            socket.create_connection(("127.0.0.1", ports["admin"]), 1).close()
            return True
        except OSError:
            return proc.poll() is not None  # exited: stop waiting, the log says why

    wait_until(admin_listens, "the server's admin port", seen=lambda: (tmp_path / "ivr.log").read_text()[-2000:])
    assert proc.poll() is None, (tmp_path / "ivr.log").read_text()[-2000:]
    return proc, ports


def _closed_by_peer(s: socket.socket) -> bool:
    """The server closed this (non-blocking) connection: end of stream, reset or refused (a connection
    still being made, or open with nothing to read, would block)."""
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.stub.terminate()  # type: ignore[attr-defined]
    proc.wait(10)
    proc.stub.wait(10)  # type: ignore[attr-defined]


async def _healthz(port: int) -> bool:
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                return resp.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def test_idle_sockets_and_half_sent_admin_requests_cannot_take_every_descriptor(tmp_path):
    """3,000 idle FastAGI sockets and 1,100 half-sent admin requests against a server whose limit is
    1,024 descriptors and cannot be raised: calls from Asterisk still go through."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 6000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    proc, ports = _serve(tmp_path, (1024, 1024), IVR_PEER_ALLOW="127.0.0.1/32")
    attackers: list[socket.socket] = []
    baseline = _open_fds(proc.pid)
    peak = [baseline]

    async def sample_descriptors() -> None:
        while True:
            peak[0] = max(peak[0], _open_fds(proc.pid))
            await asyncio.sleep(0.005)

    sampling = asyncio.create_task(sample_descriptors())
    attack_started = time.monotonic()
    try:
        # Idle FastAGI sockets from a host that is not Asterisk, and half-sent admin requests.
        for _ in range(3000):
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))
            s.connect_ex(("127.0.0.1", ports["agi"]))
            attackers.append(s)
        for _ in range(1100):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", ports["admin"]))
            attackers.append(s)
        # The attack is under way: the server is refusing the stranger's sockets (a thousand so far;
        # the kernel's accept queue holds the others back, they keep coming).
        open_agi = set(attackers[:3000])

        def refusing() -> bool:
            open_agi.difference_update([s for s in open_agi if _closed_by_peer(s)])
            return len(open_agi) <= 2000

        await until(refusing, "a thousand of the stranger's sockets closed by the server", seen=lambda: len(open_agi))
        for s in attackers[3000:]:
            try:
                s.send(b"GET /calls HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            except OSError:
                pass  # not connected (yet, or refused): that one costs the server nothing
        # A real call from Asterisk's address in the middle of the attack.
        results = await run_scenarios([call("1", "2", outcome="routed:contractor")], "127.0.0.1", ports["agi"])
        assert [r.failures for r in results] == [[]]
        sampling.cancel()
        # Never at the limit (accept() would fail with EMFILE): refusals free each stranger's descriptor
        # at once and the admin holds at most 64; what is briefly above that is the accept batches
        # (up to the backlog, 128, per listener and loop turn) waiting for their refusal to run.
        assert peak[0] < 1024, (baseline, peak[0])
        # The half-sent requests are closed after the header timeout; the admin answers again.
        await until(lambda: _healthz(ports["admin"]), "the admin port to answer /healthz again")
    finally:
        sampling.cancel()
        for s in attackers:
            s.close()
        _stop(proc)
    attack_seconds = time.monotonic() - attack_started
    log = (tmp_path / "ivr.log").read_text()
    assert log.count("Traceback") == 0 and "Too many open files" not in log
    # One line per ten seconds of refusals, not one per socket (3,000).
    assert log.count("agi_connection_refused") <= 2 + attack_seconds / 10, attack_seconds


def test_the_server_raises_its_soft_descriptor_limit(tmp_path):
    proc, _ = _serve(tmp_path, (1024, 4096))
    try:
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        line = next(row for row in limits.splitlines() if row.startswith("Max open files"))
        assert line.split()[3:5] == ["4096", "4096"], line
    finally:
        _stop(proc)


# -- 3. toll fraud through callbacks --------------------------------------------------------------


@pytest.fixture
async def busy_ami():
    sim = SimAmi(auth_delay=0.2)
    sim.set_load("contractor", logged_in=3, available=0, callers=9, talk_time=240)  # a long wait: callbacks offered
    await sim.start()
    yield sim
    await sim.stop()


def _ami(sim: SimAmi, tmp_path: Path) -> dict:
    return {"ami_host": "127.0.0.1", "ami_port": sim.bound_port, "ami_user": "ivr", "ami_secret": SecretStr("ivrsecret"),
            "store": tmp_path / "ivr.sqlite"}


@pytest.mark.parametrize("caller, presentation", [
    ("0612345678@from-phones/n", 0),               # a dial string in the caller ID
    ("+33612345678&PJSIP/0899000000@trunk", 0),    # a second channel
    ("0899123456", 0),                              # premium
    ("+441234567890", 0),                           # international, not configured
    ("0612345678", 32),                             # a mobile, but the caller withheld it
])
async def test_no_callback_to_a_number_a_public_service_may_not_call(busy_ami, tmp_path, caller, presentation):
    async with embedded_server(**_ami(busy_ami, tmp_path)) as srv:
        assert await srv.ami.wait_connected(DEADLINE)
        await srv.ami.refresh_queues()
        [r] = await run_scenarios([call("1", "2", caller=caller, presentation=presentation, outcome="routed:contractor",
                                        not_prompts=["offre_rappel"])], "127.0.0.1", srv.agi_port,
                                  records=srv.memory_records)
        assert r.passed, r.failures
        assert await srv.store.callbacks() == []


async def test_the_callback_channel_is_built_from_validated_digits_only(busy_ami, tmp_path):
    async with embedded_server(**_ami(busy_ami, tmp_path)) as srv:
        assert await srv.ami.wait_connected(DEADLINE)
        await srv.ami.refresh_queues()
        [r] = await run_scenarios([call("1", "2", "1", caller="+33 6 12 34 56 78", outcome="callback")],
                                  "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert r.passed, r.failures
        # A row that got into the store some other way is never dialled.
        await srv.store.add_callback("0612345678&PJSIP/0899000000@trunk", "contractor", "agent_requested")
        busy_ami.set_load("contractor", logged_in=3, available=2, callers=0)
        await srv.ami.refresh_queues()
        assert await srv.dialer.tick() == 1
        assert [o["channel"] for o in busy_ami.originates] == ["Local/0612345678@ivr-callback-out"]
        states = {c.number: c.state for c in await srv.store.callbacks()}
        assert states == {"0612345678": "done", "0612345678&PJSIP/0899000000@trunk": "failed"}


def test_the_dialplan_dials_back_only_french_geographic_and_mobile_numbers():
    text = (ROOT / "asterisk" / "etc" / "extensions.conf").read_text()
    section = text.split("[ivr-callback-out]", 1)[1].split("\n[", 1)[0]
    patterns = [line.split("=>", 1)[1].split(",", 1)[0].strip() for line in section.splitlines()
                if line.startswith("exten")]
    assert patterns == ["_0[1-7]XXXXXXXX"]
    numbers = CallbackNumbers()
    assert numbers.dialable("0612345678") == "0612345678" and numbers.dialable("0912345678") is None
    assert CallbackNumbers(["+590"]).dialable("+590690123456") == "+590690123456"


# -- 4. only Asterisk talks FastAGI and AudioSocket; lookups per caller ---------------------------


async def test_a_peer_outside_the_allow_list_gets_no_session_and_no_status():
    async with embedded_server(peer_allow="127.0.0.2/32", agi_host="127.0.0.1") as srv:
        reader, writer = await _open(srv.agi_port)  # from 127.0.0.1: not allowed
        writer.write(ENV)
        assert await _closed_at_once(reader)  # closed without a single command
        writer.close()
        r2, w2 = await _open(srv.agi_port, source="127.0.0.2")
        w2.write(ENV)
        assert await asyncio.wait_for(r2.readline(), DEADLINE) == b"ANSWER\n"
        w2.close()
        assert srv.agi.refused == 1


async def test_audiosocket_refuses_strangers():
    server = AudioSocketServer("127.0.0.1", 0, accept_peer=lambda address: address == "127.0.0.2")
    await server.start()
    try:
        fut = server.expect(str(uuid.uuid4()))
        r, w = await _open(server.bound_port)
        w.write(encode_frame(KIND_UUID, uuid.uuid4().bytes))
        assert await _closed_at_once(r)
        assert server.rejected == 1 and not fut.done()
        w.close()
    finally:
        await server.stop()


async def test_each_listener_binds_its_own_address():
    async with embedded_server(agi_host="127.0.0.3", admin_host="127.0.0.1") as srv:
        assert srv.agi._server.sockets[0].getsockname()[0] == "127.0.0.3"
        assert srv.admin._listener.sockets[0].getsockname()[0] == "127.0.0.1"


async def test_one_caller_cannot_read_out_file_after_file():
    async with embedded_server(lookups_per_caller=3, lookup_window=600) as srv:
        probes = [call("1", "1", f"{SIMPLE}#", "1", {"kind": "hangup"}, caller="0611111111", name=f"probe {i}")
                  for i in range(5)]
        results = await run_scenarios(probes, "127.0.0.1", srv.agi_port, records=srv.memory_records)
        statuses = [r.record["lookups"][0]["status"] for r in results]
        assert statuses.count("found") == 3 and statuses.count("rate_limited") == 2
        # Another caller is not affected.
        [other] = await run_scenarios([call("1", "1", f"{SIMPLE}#", "1", {"kind": "hangup"}, caller="0622222222")],
                                      "127.0.0.1", srv.agi_port, records=srv.memory_records)
        assert other.record["lookups"][0]["status"] == "found"


# -- 5. no file number in the logs, exception texts included -------------------------------------


async def test_a_failing_lookup_logs_no_file_number(tmp_path):
    async def html(request: web.Request) -> web.Response:  # a broken tracking service: HTML, not JSON
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/v1/files/{title}/{number}", html)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    out = io.StringIO()
    configure_logging("json", "info", stream=out, force=True)
    try:
        async with embedded_server(tracking_url=f"http://127.0.0.1:{port}", with_stub=False) as srv:
            [r] = await run_scenarios([call("1", "1", f"{SIMPLE}#", "1", outcome="routed:contractor")],
                                      "127.0.0.1", srv.agi_port, records=srv.memory_records)
            assert r.record["reason"] == "tracking_unavailable"
    finally:
        configure_logging("json", "critical", force=True)
        await runner.cleanup()
    text = out.getvalue()
    assert "lookup_failed" in text and "********81" in text
    assert SIMPLE not in text


# -- 6. readbacks: keyed names, group-only, expiring, bounded ------------------------------------


async def test_readback_files_cannot_be_found_by_hashing_numbers_and_expire(tmp_path):
    cache = tmp_path / "cache"
    async with embedded_server(dynamic_prompts_dir=cache) as srv:
        [r] = await run_scenarios([call("1", "1", f"{SIMPLE}#", "1", {"kind": "hangup"})], "127.0.0.1", srv.agi_port,
                                  records=srv.memory_records)
        text = say_digits_text(SIMPLE)
        # The old name: an unsalted hash of the voice and the digits, found by hashing every number.
        old_name = "dyn-" + hashlib.sha256(f"{srv.readbacks.voice.key()}\n{text}".encode()).hexdigest()[:20]
        files = sorted(cache.glob("dyn-*.wav"))
        assert files and all(f.stem != old_name for f in files)
        assert srv.readbacks.path_for(text).with_suffix(".wav") in files
        assert all(f.stat().st_mode & 0o777 == 0o640 for f in files)
        assert srv.readbacks.sweep() == 0  # fresh: kept
        # A day later (on the cache's clock) they are gone.
        written = srv.readbacks.clock()
        srv.readbacks.clock = lambda: written + 25 * 3600
        assert srv.readbacks.sweep() == len(files)
        assert list(cache.glob("dyn-*.wav")) == []


async def test_a_readback_expires_a_day_after_its_last_use_not_while_a_call_plays_it(tmp_path):
    now = [1_796_000_000.0]
    prompts = DynamicPrompts(tmp_path, renderer=lambda text, voice: b"\0\0" * 80, clock=lambda: now[0])
    path = await prompts.playback_path("numéro 1")
    now[0] += 23 * 3600
    assert await prompts.playback_path("numéro 1") == path  # used again an hour before it would expire
    now[0] += 2 * 3600
    assert prompts.sweep() == 0  # a sweep meanwhile leaves it: a day has not passed since that use
    now[0] += 23 * 3600
    assert prompts.sweep() == 1


async def test_the_readback_cache_is_bounded(tmp_path):
    now = [1_796_000_000.0]  # the cache's own clock, one second per readback: whatever the machine's says
    prompts = DynamicPrompts(tmp_path, renderer=lambda text, voice: b"\0\0" * 80, max_files=5, clock=lambda: now[0])
    for n in range(12):
        now[0] += 1
        await prompts.playback_path(f"numéro {n}")
    assert prompts.sweep() == 7
    # The five newest are kept.
    assert sorted(tmp_path.glob("dyn-*.wav")) == sorted(prompts.path_for(f"numéro {n}").with_suffix(".wav")
                                                      for n in range(7, 12))
    other = DynamicPrompts(tmp_path, key=b"another key")
    assert other.path_for("numéro 1") != prompts.path_for("numéro 1")


# -- 7. a question cannot be held open by a trickle of empty frames -----------------------------


async def test_a_trickle_of_empty_frames_cannot_hold_a_question_open():
    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    try:
        call_uuid = str(uuid.uuid4())
        fut = server.expect(call_uuid)
        r, w = await _open(server.bound_port)
        w.write(encode_frame(KIND_UUID, uuid.UUID(call_uuid).bytes))
        await w.drain()
        stream = await asyncio.wait_for(fut, DEADLINE)

        async def trickle() -> None:
            while True:
                w.write(encode_frame(KIND_AUDIO, b""))
                await w.drain()
                await asyncio.sleep(0.01)

        class UtteranceDouble:  # a test double: nothing is ever decoded
            partial_text = ""

            def submit(self, pcm):
                pass

            def abandon(self):
                pass

        class ModelDouble:  # a test double handing out that utterance
            def utterance(self, slot):
                return UtteranceDouble()

        from ivr.audio.vad import EndpointConfig

        settings = SpeechSettings(pace=0, endpoint=EndpointConfig(max_speech=1.0), question_slack=0.5)
        listener = SpeechListener(server, ModelDouble(), settings)
        sending = asyncio.create_task(trickle())
        # The trickle never stops: only the question's own bound (no input, then its cap) can end it.
        answer = await asyncio.wait_for(listener.listen(stream, Question(prompts=[], timeout=1.0), None), DEADLINE)
        assert answer.empty
        sending.cancel()
        await stream.close()
        w.close()
    finally:
        await server.stop()


# -- 8. control characters in the request path --------------------------------------------------


@pytest.mark.parametrize("path", [b"ants\r3400", b"ants\x003400"])
async def test_a_broken_request_path_still_hands_the_caller_to_a_queue(path):
    async with embedded_server() as srv:
        reader, writer = await _open(srv.agi_port)
        writer.write(ENV.replace(b"agi_network_script: ants-3400", b"agi_network_script: " + path))
        sent = []
        while True:
            line = await asyncio.wait_for(reader.readline(), DEADLINE)
            if not line:
                break
            sent.append(line.decode(errors="replace"))
            writer.write(b"200 result=1\n")
        writer.close()
        assert 'SET VARIABLE IVR_QUEUE "contractor"\n' in sent
        [record] = await until(lambda: srv.memory_records.records, "the call's record")
        assert (record.outcome, record.queue, record.reason) == ("error_routed", "contractor", "unknown_flow")


# -- 9. the admin pages --------------------------------------------------------------------------


async def _http(port: int, method: str, path: str, **headers: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            return resp.status, dict(resp.headers)


async def test_a_cross_site_form_cannot_reload_the_flows():
    async with embedded_server() as srv:
        port = srv.admin.bound_port
        assert (await _http(port, "POST", "/flows/reload", Origin="http://evil.example"))[0] == 403
        assert (await _http(port, "POST", "/flows/reload", **{"Sec-Fetch-Site": "cross-site"}))[0] == 403
        assert (await _http(port, "POST", "/flows/reload", Origin=f"http://127.0.0.1:{port}"))[0] == 200
        assert (await _http(port, "POST", "/flows/reload"))[0] == 200  # curl, a script: not a browser


async def test_an_unknown_host_name_is_refused_dns_rebinding():
    async with embedded_server() as srv:
        port = srv.admin.bound_port
        assert (await _http(port, "GET", "/calls", Host="rebind.evil.example"))[0] == 421
        assert (await _http(port, "GET", "/calls", Host=f"localhost:{port}"))[0] == 200


async def test_the_token_only_in_the_header_and_any_header_bytes_give_401():
    out = io.StringIO()
    configure_logging("json", "info", stream=out, force=True)
    try:
        async with embedded_server(admin_token=SecretStr("t0ken")) as srv:
            port = srv.admin.bound_port
            assert (await _http(port, "GET", "/kpis?token=t0ken"))[0] == 401
            assert (await _http(port, "GET", "/kpis", Authorization="Bearer t0ken"))[0] == 200
            reader, writer = await _open(port)
            writer.write(b"GET /kpis HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \xff\xfe\xc3\r\n"
                         b"Connection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), DEADLINE)
            writer.close()
            assert answer.startswith(b"HTTP/1.1 401")
    finally:
        configure_logging("json", "critical", force=True)
    assert "Traceback" not in out.getvalue()


async def test_every_answer_carries_security_headers():
    async with embedded_server() as srv:
        status, headers = await _http(srv.admin.bound_port, "GET", "/calls", Accept="text/html")
        assert status == 200
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["Cache-Control"] == "no-store"


async def test_slow_admin_clients_are_capped_and_timed_out():
    async with embedded_server(max_admin_connections=10) as srv:
        srv.admin.guard.header_timeout = 0.5
        port = srv.admin.bound_port
        slow = [await _open(port) for _ in range(30)]
        for _, w in slow:
            w.write(b"GET /calls HTTP/1.1\r\n")  # never finished
        guard = srv.admin.guard
        # Ten kept, twenty refused at once; the ten closed at their header timeout.
        await until(lambda: guard.refused >= 20, "twenty connections refused", seen=lambda: (guard.open, guard.refused))
        assert guard.open <= 10
        await until(lambda: guard.open == 0, "the kept connections closed at their header timeout",
                    seen=lambda: guard.open)
        assert (await _http(port, "GET", "/healthz"))[0] == 200
        for _, w in slow:
            w.close()


# -- 10. per-caller counts: identified callers only, keyed hash -----------------------------------


async def test_withheld_callers_do_not_share_a_daily_count():
    sim = SimAmi(auth_delay=0.2)
    await sim.start()
    try:
        async with embedded_server(ami_host="127.0.0.1", ami_port=sim.bound_port, ami_user="ivr",
                                   ami_secret=SecretStr("ivrsecret")) as srv:
            assert await srv.ami.wait_connected(DEADLINE)
            priorities = []
            for i in range(3):
                [r] = await run_scenarios([call("1", "2", caller="anonymous", presentation=32, name=f"masqué {i}",
                                                outcome="routed:contractor")], "127.0.0.1", srv.agi_port,
                                          records=srv.memory_records)
                assert r.passed, r.failures
                priorities.append(r.trace.channel.variables.get("IVR_PRIORITY"))
            assert priorities == [None, None, None]
    finally:
        await sim.stop()


async def test_caller_hashes_are_keyed_and_not_the_old_constant_salt(tmp_path):
    from datetime import date

    a = await SqliteStore(tmp_path / "a.sqlite").open()
    b = await SqliteStore(tmp_path / "b.sqlite").open()
    try:
        await a.count_call("0612345678", date(2026, 11, 24))
        async with a.db.execute("SELECT caller FROM caller_days") as cur:
            (stored,) = await cur.fetchone()
        assert stored != hashlib.sha256(b"ivr-3400:0612345678").hexdigest()[:24]
        assert a._caller_hash("0612345678") != b._caller_hash("0612345678")  # each store its own random key
        again = await SqliteStore(tmp_path / "a.sqlite").open()  # the key survives a restart
        assert again._caller_hash("0612345678") == a._caller_hash("0612345678")
        await again.close()
    finally:
        await a.close()
        await b.close()


# -- 11. no caller-controlled escape sequence reaches a terminal ----------------------------------


async def test_console_logs_show_escape_sequences_not_run_them():
    out = io.StringIO()
    configure_logging("console", "info", stream=out, force=True)
    try:
        async with embedded_server() as srv:
            reader, writer = await _open(srv.agi_port)
            writer.write(ENV.replace(b"agi_callerid: 0612345678", b"agi_callerid: \x1b]0;pwned\x07\x1b[2J0612"))
            while line := await asyncio.wait_for(reader.readline(), DEADLINE):
                writer.write(b"200 result=-1\n" if line.startswith(b"CHANNEL") else b"200 result=0\n")
                if line.startswith(b"HANGUP") or line.startswith(b"SET VARIABLE IVR_OUTCOME"):
                    break
            writer.close()
            await until(lambda: srv.memory_records.records, "the call's record (its last log lines written)")
    finally:
        configure_logging("json", "critical", force=True)
    text = out.getvalue()
    assert "call_started" in text and "\x1b" not in text and "\x07" not in text


# -- 12. the callback confirmation names the last three digits ------------------------------------


def test_the_callback_confirmation_names_the_last_three_digits():
    assert "se terminant par 6 7 8," in callback_confirmation("06 12 34 56 78")


def test_security_settings_come_from_the_environment_only(tmp_path):
    from ivr.config import load_settings

    for secret in ("admin_token", "caller_hash_key", "prompt_cache_key"):
        conf = tmp_path / f"{secret}.yaml"
        conf.write_text(json.dumps({secret: "x"}))
        with pytest.raises(ValueError, match=f"IVR_{secret.upper()}"):
            load_settings(conf)
