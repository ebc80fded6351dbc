"""Fault and abuse suite: fuzzed protocol input, AudioSocket garbage, signals, kill -9, leaks."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.bench.faults import _raw, fuzz_env_block, fuzz_reply, normal_call
from ivr.bench.load import proc_fds, server_processes
from ivr.edges.agi.protocol import BadEnvironment, ReplyParseError, build_environment, parse_result, parse_status_line
from ivr.server.embedded import embedded_server
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.waiting import DEADLINE, until
from tests.holds import lookups_held

lines = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"), max_size=200)


@given(st.lists(lines, max_size=30))
def test_environment_parser_only_raises_its_own_error(block):
    try:
        env = build_environment(block)
    except BadEnvironment:
        return
    assert isinstance(env.request_path, str) and isinstance(env.args, list)


@given(lines)
def test_reply_parser_only_raises_its_own_error(line):
    try:
        code, _, rest = parse_status_line(line)
        if code in (100, 200):
            parse_result(code, rest, line)
    except ReplyParseError:
        pass


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _tasks() -> list[asyncio.Task]:
    """This loop's tasks, but the admin HTTP server's idle keep-alive handlers."""
    return [t for t in asyncio.all_tasks() if "RequestHandler" not in repr(t.get_coro())]


def _idle(srv) -> bool:
    return srv.agi.active_sessions == 0 and not srv.supervisor.live


async def test_fuzzed_peers_never_hurt_the_server_or_other_calls_and_leak_nothing():
    rng = random.Random(7)
    async with embedded_server(env_timeout=0.5, max_line=4096) as srv:
        port = srv.agi_port
        [warm] = await run_scenarios([normal_call()], "127.0.0.1", port)
        assert warm.passed, warm.failures
        await until(lambda: _idle(srv), "the warm-up call gone from the server")
        fds, tasks = _fds(), len(_tasks())
        good = asyncio.create_task(run_scenarios([normal_call(i) for i in range(20)], "127.0.0.1", port,
                                                 concurrency=10))
        env = (b"agi_network: yes\nagi_network_script: ants-3400\nagi_request: agi://h/ants-3400\n"
               b"agi_uniqueid: fz.%d\nagi_callerid: 0600000000\nagi_threadid: 1\n\n")
        await asyncio.gather(
            *(_raw(port, fuzz_env_block(rng), timeout=3) for _ in range(60)),
            *(_raw(port, env % i, replies=[b"200 result=0\n"] * rng.randrange(3) + [fuzz_reply(rng)], timeout=3)
              for i in range(60)))
        results = await good
        assert [r.failures for r in results if not r.passed] == []
        await until(lambda: _idle(srv), "every session and call gone from the server",
                    seen=lambda: (srv.agi.active_sessions, list(srv.supervisor.live)))
        # Every fuzzed call that got past its environment block has exactly one outcome.
        fuzzed = [r for r in srv.memory_records.records if r.uniqueid.startswith("fz.")]
        assert fuzzed and all(r.outcome for r in fuzzed)
        # Nothing leaks: descriptors and tasks come back to what they were (once closing is done).
        await until(lambda: _fds() <= fds + 2, f"at most {fds + 2} descriptors", seen=_fds)
        await until(lambda: len(_tasks()) <= tasks, f"at most {tasks} tasks", seen=lambda: [t.get_coro() for t in _tasks()])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=600))
def test_audiosocket_garbage_is_rejected(data):
    from ivr.edges.audiosocket.server import AudioSocketServer

    async def run():
        server = AudioSocketServer("127.0.0.1", 0, first_frame_timeout=0.2)
        await server.start()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.bound_port)
            writer.write(data)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), DEADLINE) == b""  # dropped, nothing answered
            writer.close()
            assert server.waiting == 0
        finally:
            await server.stop()

    asyncio.run(run())


async def test_garbage_on_an_open_audiosocket_ends_only_that_question():
    from ivr.interfaces import Question
    from ivr.listening.speech import SpeechListener, SpeechSettings
    from tests.audiosocket_peer import connected_peer

    async with connected_peer(b"\x42\x00\x01x" + b"\x10\x01\x40abc") as peer:

        class UtteranceDouble:  # a test double: the question ends before any decoding
            def abandon(self):
                self.abandoned = True

        class ModelDouble:  # a test double handing out that utterance
            def utterance(self, slot):
                return UtteranceDouble()

        listener = SpeechListener(peer.server, ModelDouble(), SpeechSettings(pace=0))
        answer = await asyncio.wait_for(listener.listen(peer.stream, Question(prompts=[], timeout=2), None), DEADLINE)
        assert answer.empty and answer.details.get("broken")


async def test_sigterm_during_load_drains_every_call(tmp_path):
    async with server_processes(tmp_path) as srv, lookups_held(f"http://127.0.0.1:{srv['stub_port']}"):
        # Each call waits on its tracking lookup (no answer: the 2 s client timeout ends it), held in
        # the « un instant » it hears meanwhile, when SIGTERM arrives.
        in_lookup = PromptGate("un_instant")
        load = asyncio.create_task(run_scenarios([normal_call(i, "1", "1", "5458443881#", "1") for i in range(30)],
                                                 "127.0.0.1", srv["agi_port"], concurrency=30, gate=in_lookup))
        await until(lambda: in_lookup.held == 30, "30 calls in their lookup", seen=lambda: in_lookup.held)
        srv["server"].send_signal(signal.SIGTERM)
        in_lookup.release()
        results = await load
        assert await asyncio.wait_for(srv["server"].wait(), DEADLINE) == 0
        assert [r.failures for r in results if not r.passed] == []
        assert all(r.outcome == "routed:contractor" for r in results)
        records = [json.loads(l) for l in srv["records"].read_text().splitlines()]
        assert len(records) == 30 and all(r["outcome"] == "routed:contractor" for r in records)


async def test_kill_9_keeps_every_finished_call_record(tmp_path):
    async with server_processes(tmp_path) as srv:
        load = asyncio.create_task(run_scenarios([normal_call(i) for i in range(2000)], "127.0.0.1",
                                                 srv["agi_port"], concurrency=20))
        await until(lambda: _lines(srv["records"]) >= 20, "twenty calls recorded")  # killed under load
        killed_at = asyncio.get_running_loop().time()
        srv["server"].kill()
        results = await load
    records = [json.loads(l) for l in srv["records"].read_text().splitlines()]  # every line parses
    recorded = {r["uniqueid"] for r in records}
    # Calls the IVR had closed before the kill were finished: each one's record is on disk.
    import time as _time

    offset = _time.monotonic() - asyncio.get_running_loop().time()
    finished = [r for r in results if r.trace.closed_at is not None and r.outcome != "none"
                and r.trace.closed_at < killed_at + offset]
    assert 0 < len(finished) < 2000
    assert [r.trace.uniqueid for r in finished if r.trace.uniqueid not in recorded] == []
    assert len({r["call_id"] for r in records}) == len(records)


async def test_sighup_storm_during_calls(tmp_path):
    async with server_processes(tmp_path) as srv:
        pid = srv["server"].pid
        fds = proc_fds(pid)
        calls = asyncio.create_task(run_scenarios([normal_call(i) for i in range(60)], "127.0.0.1",
                                                  srv["agi_port"], concurrency=20))
        for _ in range(40):
            os.kill(pid, signal.SIGHUP)
            await asyncio.sleep(0.01)
        results = await calls
        assert [r.failures for r in results if not r.passed] == []
        # Still serving after the storm, and nothing leaked (once closing is done).
        [after] = await run_scenarios([normal_call(99)], "127.0.0.1", srv["agi_port"])
        assert after.passed, after.failures
        await until(lambda: proc_fds(pid) <= fds + 2, f"the server back to {fds + 2} descriptors at most",
                    seen=lambda: proc_fds(pid))
