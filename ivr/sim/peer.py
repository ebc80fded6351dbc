"""The simulated Asterisk's network side: one FastAGI connection per call.

Connects to the IVR like Asterisk's ``AGI(agi://host:port/path)`` does, sends
the environment block, then answers every command through a
:class:`~ivr.sim.channel.SimChannel` until the IVR closes the socket.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .channel import Event, Reply, SimChannel, build_env_block
from .gate import PromptGate
from .scenario import Scenario

__all__ = ["CallTrace", "place_call"]


@dataclass
class CallTrace:
    """Everything one simulated call showed."""

    scenario: Scenario
    uniqueid: str
    channel: SimChannel
    turn_seconds: list[float] = field(default_factory=list)  # IVR think time per command
    closed_by_ivr: bool = False
    error: str = ""
    seconds: float = 0.0
    close_after_hangup_s: float | None = None
    #: time.monotonic() when the IVR closed the connection (None if it never did).
    closed_at: float | None = None
    #: The environment block reached the IVR: from then on the call is the IVR's, and has a record.
    env_sent: bool = False
    #: Seconds slept to give replies at their real time (``realtime``; 0 otherwise).
    slept: float = 0.0


def _dialplan_args(scenario: Scenario, uniqueid: str) -> list[str]:
    """The AGI() arguments the product's dialplan passes (asterisk/etc/extensions.conf, [ivr-3400]).

    ``sip_call_id=`` carries the SIP Call-ID on a PJSIP channel (empty on others); the second
    argument is ``sim_now=ISO`` on the 3499 test entry and empty on 3400.
    """
    call_id = f"{uuid.uuid5(uuid.NAMESPACE_OID, uniqueid).hex}@sim" if scenario.call.channel == "PJSIP" else ""
    at = scenario.call.at
    return [f"sip_call_id={call_id}", f"sim_now={at.isoformat()}" if at is not None else ""]


async def place_call(
    scenario: Scenario,
    host: str,
    port: int,
    *,
    idle_timeout: float = 30.0,
    max_commands: int = 2000,
    audiosocket: Callable[[SimChannel, str], Reply] | None = None,
    classic: list[str] | None = None,
    classic_env: dict[str, str] | None = None,
    realtime: bool = False,
    gate: PromptGate | None = None,
) -> CallTrace:
    """Run one scenario as a call against the FastAGI server at host:port.

    With ``classic`` (a command line), the call runs a classic AGI process
    instead: spawned per call, the simulator speaking AGI on its stdin/stdout.
    With ``realtime``, each reply comes when the simulated call would give it: after the prompt's
    real length, the caller's wait or the timeout (the virtual clock's advance, slept), as on a
    real Asterisk; the IVR's turn time is still measured from the reply to its next command.
    With ``gate``, the command playing the gate's prompt is answered only once the gate is released.
    """
    uniqueid = scenario.call.uniqueid or f"{time.time():.0f}.{uuid.uuid4().int % 100000}"
    channel = SimChannel(
        steps=deque(scenario.steps),
        uniqueid=uniqueid,
        channel="",
        audiosocket=audiosocket,
        hangup_before_command=scenario.call.hangup_before_command,
        line_noise=scenario.call.noise,
    )
    trace = CallTrace(scenario, uniqueid, channel)
    started = time.monotonic()
    args = list(scenario.call.args) if scenario.call.args else _dialplan_args(scenario, uniqueid)
    if classic:
        args = [scenario.call.request, *args]
    env = build_env_block(scenario.call, host=host, port=port, uniqueid=uniqueid, args=args,
                          script=classic[-1] if classic else None)
    channel.channel = next(
        line.split(": ", 1)[1] for line in env.splitlines() if line.startswith("agi_channel:")
    )
    proc = None
    try:
        if classic:
            import os

            proc = await asyncio.create_subprocess_exec(
                *classic, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                env={**os.environ, **(classic_env or {})})
            assert proc.stdout is not None and proc.stdin is not None  # both piped above
            reader, writer = proc.stdout, proc.stdin
        else:
            reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        trace.error = f"cannot connect to {host}:{port}: {exc.strerror or exc}"
        return trace

    hangup_at: float | None = None
    try:
        writer.write(env.encode())
        await writer.drain()
        trace.env_sent = True
        replied_at = time.monotonic()
        while True:
            try:
                raw = await asyncio.wait_for(reader.readline(), idle_timeout)
            except asyncio.TimeoutError:
                trace.error = f"the IVR sent nothing for {idle_timeout:g} s (caller left in silence)"
                break
            if not raw:
                trace.closed_by_ivr = True
                trace.closed_at = time.monotonic()
                if hangup_at is not None:
                    trace.close_after_hangup_s = time.monotonic() - hangup_at
                break
            trace.turn_seconds.append(time.monotonic() - replied_at)
            line = raw.decode("utf-8", errors="replace")
            if channel.commands >= max_commands:
                trace.error = f"more than {max_commands} AGI commands: the flow seems to loop"
                break
            was_dead = channel.dead
            channel.events.append(Event(round(channel.clock, 3), "ivr", line.rstrip("\n")))
            clock_before = channel.clock
            prompts_before = len(channel.prompts)
            reply = channel.handle(line)
            if gate is not None and any(gate.matches(p) for p in channel.prompts[prompts_before:]):
                await gate.hold()
            if reply.close:
                hangup_at = time.monotonic()
                writer.close()  # the IVR must notice the dropped connection
                break
            text = (await reply.run()) if reply.run is not None else reply.lines
            if realtime and channel.clock > clock_before:
                await asyncio.sleep(channel.clock - clock_before)
                trace.slept += channel.clock - clock_before
            text += channel.after_reply()
            if channel.dead and not was_dead and hangup_at is None:
                hangup_at = time.monotonic()
            channel.events.append(Event(round(channel.clock, 3), "ast", text.rstrip("\n")))
            writer.write(text.encode())
            await writer.drain()
            replied_at = time.monotonic()
    except (ConnectionError, OSError) as exc:
        if not channel.dead:
            trace.error = f"connection error: {exc}"
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), idle_timeout)
            except asyncio.TimeoutError:
                proc.kill()
                trace.error = trace.error or "the classic AGI process did not exit"
            if proc.returncode not in (0, None) and not trace.error:
                trace.error = f"the classic AGI process exited with status {proc.returncode}"
        trace.seconds = time.monotonic() - started
    return trace
