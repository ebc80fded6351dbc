"""The tools that keep tests from passing or failing by chance: waiting for a condition, ports nobody
else is given, and calls held where a test needs them."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys

import pytest

from ivr.lab.ports import RTP_PORTS, TCP_PORTS, free_port, free_udp_range
from ivr.server.embedded import embedded_server
from ivr.sim.gate import PromptGate
from ivr.sim.runner import run_scenarios
from ivr.sim.scenario import Scenario
from ivr.waiting import ConditionTimeout, until, wait_until
from tests.clocks import OPEN

# -- waiting ---------------------------------------------------------------------------------------


def test_a_wait_returns_what_the_condition_gave_as_soon_as_it_holds():
    values = iter([0, None, "", 7])
    assert wait_until(lambda: next(values), "a value", interval=0) == 7


def test_a_wait_that_times_out_says_what_it_waited_for_and_what_it_saw():
    with pytest.raises(ConditionTimeout, match=r"waited 0.05 s for the agent to log in; last seen: 'paused'"):
        wait_until(lambda: False, "the agent to log in", timeout=0.05, interval=0.01, seen=lambda: "paused")


async def test_the_event_loop_wait_takes_plain_and_coroutine_conditions():
    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)
    assert await until(ready.is_set, "the event") is True

    async def answer() -> str:
        return "found"

    assert await until(answer, "an answer") == "found"
    with pytest.raises(ConditionTimeout, match="a record"):
        await until(lambda: [], "a record", timeout=0.05)


# -- ports -----------------------------------------------------------------------------------------


def test_ports_are_below_the_ephemeral_range_free_and_never_handed_out_twice():
    low, _ = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    ports = [free_port() for _ in range(120)] + [free_port(kind=socket.SOCK_DGRAM) for _ in range(10)]
    assert len(set(ports)) == len(ports)
    assert all(p in TCP_PORTS and p < low for p in ports)
    with socket.socket() as s:  # free: a server can listen there
        s.bind(("127.0.0.1", ports[-11]))
    first, last = free_udp_range(100)
    assert first % 2 == 0 and last - first == 99 and first in RTP_PORTS and last in RTP_PORTS


def test_two_processes_never_get_the_same_port():
    # Each process keeps its ports until the test has read everyone's (a port is reserved while its
    # process lives: one that exited may see its ports handed out again, rightly).
    code = ("import sys; from ivr.lab.ports import free_port; print(*[free_port() for _ in range(60)], flush=True); "
            "sys.stdin.read()")
    runs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            for _ in range(3)]
    mine = {free_port() for _ in range(60)}
    theirs = [set(map(int, run.stdout.readline().split())) for run in runs]
    for run in runs:
        run.communicate("")
    everyone = [mine, *theirs]
    assert all(len(ports) == 60 for ports in everyone)
    assert sum(len(ports) for ports in everyone) == len(set().union(*everyone))


# -- holding a call at a prompt --------------------------------------------------------------------


async def test_a_gate_holds_calls_at_its_prompt_until_released_and_then_lets_every_call_pass():
    menu = PromptGate("menu_titre")  # the keypad variant (menu_titre_clavier) is held too
    call = Scenario.model_validate({"name": "gate", "call": {"at": OPEN},
                                    "steps": [{"kind": "press", "digits": "2"}, {"kind": "press", "digits": "2"}]})
    async with embedded_server() as srv:
        held = asyncio.create_task(run_scenarios([call, call], "127.0.0.1", srv.agi_port, concurrency=2, gate=menu,
                                                 records=srv.memory_records))
        await until(lambda: menu.held == 2, "both calls at the menu")
        assert sorted(c.current_node for c in srv.supervisor.live.values()) == ["titre", "titre"]
        await asyncio.sleep(0.2)  # whatever time passes, only the release moves them (a slow machine cannot)
        assert menu.held == 2 and not held.done()
        menu.release()
        results = await held
        later = await run_scenarios([call], "127.0.0.1", srv.agi_port, gate=menu, records=srv.memory_records)
    assert [r.outcome for r in results + later] == ["routed:contractor"] * 3
    assert menu.reached == 3 and menu.held == 0
