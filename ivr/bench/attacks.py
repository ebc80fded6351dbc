"""The resource attacks of ``ivr bench faults``, against ``ivr serve`` as a process.

Each attack runs while normal calls go on; the figures are the server's peak memory (VmHWM) and
open descriptors during the attack, and how the normal calls fared (passed, IVR turn time).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from ..audio.vad import EndpointConfig
from ..edges.audiosocket.protocol import KIND_AUDIO, KIND_UUID, encode_frame
from ..edges.audiosocket.server import AudioSocketServer
from ..interfaces import Question
from ..listening.speech import SpeechListener, SpeechSettings
from ..sim.runner import percentile, run_scenarios
from ..sim.scenario import Scenario
from .load import proc_fds, proc_peak_rss_mb
from .progress import Progress

__all__ = ["run_resource_attacks"]

ENV = (b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://127.0.0.1/ants-3400\n"
       b"agi_channel: PJSIP/attack\nagi_uniqueid: attack.%d\nagi_callerid: 0600000000\nagi_threadid: 1\n\n")


async def _during(attack: Callable[[], Coroutine[Any, Any, None]], pid: int, port: int, calls: list[Scenario]) -> dict[str, Any]:
    """Run ``attack`` and, one second into it, the normal calls; sample the server meanwhile."""
    samples: list[int] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                samples.append(proc_fds(pid))
            await asyncio.sleep(0.1)

    sampler = asyncio.create_task(sample())
    attacking = asyncio.create_task(attack())
    await asyncio.sleep(1.0)
    results = await run_scenarios(calls, "127.0.0.1", port, concurrency=len(calls))
    attacking.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await attacking
    stop.set()
    await sampler
    turns = [t for r in results for t in r.trace.turn_seconds]
    return {"peak_rss_mb": round(proc_peak_rss_mb(pid), 1), "peak_fds": max(samples, default=0),
            "normal_calls": len(results), "normal_calls_passed": sum(r.passed for r in results),
            "normal_turn_ms_p50": round(percentile(turns, 50) * 1000, 2),
            "normal_turn_ms_p95": round(percentile(turns, 95) * 1000, 2)}


async def _reply_flood(port: int, connections: int = 20) -> None:
    """Peers answering ANSWER with a 520 usage reply that never ends."""

    async def one(i: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(ENV % i)
            await reader.readline()
            writer.write(b"520-Invalid command syntax.  Proper usage follows:\n")
            line = b"Usage: this usage reply never ends, line after line after line after line\n" * 200
            while True:
                writer.write(line)
                await writer.drain()
        except (ConnectionError, OSError):
            return

    await asyncio.gather(*(one(i) for i in range(connections)))


async def _descriptor_flood(port: int, admin_port: int) -> None:
    """3,000 idle FastAGI sockets from a host that is not Asterisk and 1,100 half-sent admin requests."""
    held: list[socket.socket] = []
    try:
        for i in range(4100):
            s = socket.socket()
            s.setblocking(False)
            if i < 3000:
                s.bind(("127.0.0.2", 0))
            s.connect_ex(("127.0.0.1", port if i < 3000 else admin_port))
            held.append(s)
            if i % 200 == 0:
                await asyncio.sleep(0)
        await asyncio.sleep(0.3)
        for s in held[3000:]:
            with contextlib.suppress(OSError):
                s.send(b"GET /calls HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        await asyncio.Event().wait()  # held until cancelled
    finally:
        for s in held:
            s.close()


async def _slow_admin(admin_port: int, clients: int = 500) -> None:
    """Admin clients that send one header byte per second (slowloris)."""

    async def one() -> None:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", admin_port)
            writer.write(b"GET /kpis HTTP/1.1\r\n")
            while True:
                await asyncio.sleep(1)
                writer.write(b"X")
                await writer.drain()
        except (ConnectionError, OSError):
            return

    await asyncio.gather(*(one() for _ in range(clients)))


async def trickle_question(streams: int = 20, cap_seconds: float = 3.0) -> dict[str, Any]:
    """AudioSocket streams of empty frames into questions (in this process, with a model test double):
    how long until each question ends, whatever the peer keeps sending."""

    class _Utterance:  # nothing to decode: the peer sends no audio
        partial_text = ""

        def submit(self, pcm: bytes) -> None:
            pass

        def abandon(self) -> None:
            pass

    class _Model:
        """Test double: a recogniser that never hears anything (the attack is on time, not on words)."""

        def utterance(self, slot: object) -> _Utterance:
            return _Utterance()


    server = AudioSocketServer("127.0.0.1", 0)
    await server.start()
    listener = SpeechListener(server, _Model(),  # type: ignore[arg-type]  # the double above
                              SpeechSettings(pace=0, endpoint=EndpointConfig(max_speech=1.0),
                                             question_slack=cap_seconds - 2.0))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    async def one() -> float:
        call_uuid = str(uuid.uuid4())
        fut = server.expect(call_uuid)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
        writer.write(encode_frame(KIND_UUID, uuid.UUID(call_uuid).bytes))
        stream = await asyncio.wait_for(fut, 5)

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while True:
                    writer.write(encode_frame(KIND_AUDIO, b""))
                    await writer.drain()
                    await asyncio.sleep(0.005)

        sending = asyncio.create_task(trickle())
        started = time.monotonic()
        await listener.listen(stream, Question(prompts=[], timeout=1.0), None)
        took = time.monotonic() - started
        sending.cancel()
        await stream.close()
        writer.close()
        return took

    try:
        took = await asyncio.gather(*(one() for _ in range(streams)))
    finally:
        await server.stop()
    return {"streams": streams, "question_cap_s": cap_seconds, "longest_question_s": round(max(took), 2),
            "rss_growth_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before, 1)}


async def run_resource_attacks(srv: dict[str, Any], calls: Callable[[int], list[Scenario]], progress: Progress = print) -> dict[str, Any]:
    """Every attack against the running server ``srv`` (from ``server_processes``)."""
    pid, port, admin = srv["server"].pid, srv["agi_port"], srv["admin_port"]
    report: dict[str, Any] = {}
    progress("resource attack: endless 520 usage replies from 20 peers")
    report["reply_flood"] = await _during(lambda: _reply_flood(port), pid, port, calls(10))
    progress("resource attack: 3,000 idle FastAGI sockets and 1,100 half-sent admin requests")
    report["descriptor_flood"] = await _during(lambda: _descriptor_flood(port, admin), pid, port, calls(10))
    progress("resource attack: 500 slow admin clients")
    report["slow_admin"] = await _during(lambda: _slow_admin(admin), pid, port, calls(10))
    progress("resource attack: AudioSocket trickle of empty frames")
    report["audiosocket_trickle"] = await trickle_question()
    log = srv["log"]
    report["server_log_bytes"] = log.stat().st_size if log.exists() else 0
    return report
