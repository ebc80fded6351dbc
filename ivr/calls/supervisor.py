"""Runs one AGI session as a call: flow lookup, safety nets, outcome, record.

This is where the promise "every call ends in exactly one recorded outcome,
and no caller is left in silence" is kept, whatever the flow does.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import structlog

from .. import dialplan
from ..edges.agi.errors import AgiError, CallerHungUp
from ..edges.agi.protocol import AgiEnvironment
from ..edges.agi.session import AgiSession
from ..privacy import printable, scrub_numbers
from .call import Call, FlowResolver
from .outcomes import Outcome
from .record import CallRecord, RecordStore

#: What a caller hears before an emergency hand-off (a call that failed in the IVR): the catalog must keep it.
APOLOGY_PROMPT = "desole_erreur"

__all__ = ["APOLOGY_PROMPT", "CallSupervisor", "AgiIdentity"]

log = structlog.get_logger("ivr.calls")

#: What a SIP Call-ID may look like to be kept (the caller chose it; the dialplan filters it too).
_SIP_CALL_ID = re.compile(r"[A-Za-z0-9@.:_\-]{1,128}")


def withheld_presentation(callingpres: str) -> bool:
    """Asterisk's ``agi_callingpres``: the number's presentation is restricted or unavailable
    (``AST_PRES_RESTRICTED`` 0x20, ``AST_PRES_UNAVAILABLE`` 0x40); a value that is not a number counts
    as withheld."""
    try:
        value = int(callingpres or "0")
    except ValueError:
        return True
    return bool(value & 0x60)


@dataclass(frozen=True)
class AgiIdentity:
    """A call's identity from the AGI environment block."""

    caller_number: str
    caller_withheld: bool
    uniqueid: str
    request: str
    channel: str
    sip_call_id: str

    @classmethod
    def of(cls, env: AgiEnvironment) -> "AgiIdentity":
        """The caller's identity from an AGI environment."""
        sip_call_id = env.named_arg("sip_call_id") or ""  # passed by the dialplan, filtered there too
        return cls(caller_number=env.get("callerid"), caller_withheld=withheld_presentation(env.get("callingpres")),
                   uniqueid=env.get("uniqueid"), request=env.request_path,
                   channel=env.get("channel"),
                   sip_call_id=sip_call_id if _SIP_CALL_ID.fullmatch(sip_call_id) else "")


class CallSupervisor:
    """Runs each AGI session as a call and keeps its promises, whatever the flow does.

    ``apology_prompt`` (a path without extension) is played before an emergency hand-off to
    ``fallback_queue``, so the caller hears why they are being transferred. ``on_call_ended``
    receives every finished call's record with its AGI command latencies (metrics); ``on_call_closed``
    the call itself and its record (the contacts kept for « once and done »).
    """

    def __init__(
        self,
        resolver: FlowResolver,
        store: RecordStore,
        *,
        fallback_queue: str,
        apology_prompt: str | None = None,
        allow_sim_clock: bool = False,
        on_call_ended: Callable[[CallRecord, list[float]], None] | None = None,
        on_call_closed: Callable[[Call, CallRecord], None] | None = None,
        node: str = "",
        claim_calls: bool = False,
    ) -> None:
        self.resolver = resolver
        self.store = store
        self.fallback_queue = fallback_queue
        self.apology_prompt = apology_prompt
        self.allow_sim_clock = allow_sim_clock
        self.on_call_ended = on_call_ended
        #: Told of each finished call with what the record does not keep (the caller's number, answers).
        self.on_call_closed = on_call_closed
        #: This node's name (in records); with ``claim_calls``, also told to the dialplan first thing.
        self.node = node
        self.claim_calls = claim_calls
        self.live: dict[str, Call] = {}

    async def __call__(self, session: AgiSession) -> None:
        """Run one call on an AGI session, from answer to its one record."""
        call = Call(session, AgiIdentity.of(session.env), now=self._simulated_now(session))
        call.record.node = self.node
        self.live[call.call_id] = call
        structlog.contextvars.bind_contextvars(call_id=call.call_id)
        call.log.info(
            "call_started",
            request=call.record.request,
            channel=call.record.channel,
            caller=call.caller_number,
            uniqueid=call.record.uniqueid,
        )
        try:
            if self.claim_calls:
                try:
                    await dialplan.take_call(call.channel, self.node)
                except CallerHungUp:
                    call.outcome = Outcome.CALLER_HANGUP
                    return
            if session.env.problems:
                await self._broken_environment(call, session.env.problems)
            else:
                await self._run(call)
        finally:
            self.live.pop(call.call_id, None)
            self._write_record(call, session)
            structlog.contextvars.unbind_contextvars("call_id")

    def _simulated_now(self, session: AgiSession) -> datetime | None:
        """The call's wall-clock time given by a simulator (``sim_now=ISO`` AGI argument).

        Only honoured when the server runs with ``allow_sim_clock`` (tests,
        demo): it lets scenarios exercise opening hours on any day.
        """
        if not self.allow_sim_clock:
            return None
        text = session.env.named_arg("sim_now")
        if not text:
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    async def _run(self, call: Call) -> None:
        flow = self.resolver.resolve(call.record.request)
        if flow is None:
            await self._unknown_flow(call)
            return
        call.record.flow = flow.name
        call.record.flow_version = flow.version
        try:
            await flow.run(call)
            if call.outcome is None:
                raise RuntimeError(f"flow {flow.name!r} ended without an outcome")
        except CallerHungUp as exc:
            call.record.hangup_node = call.current_node
            call.log.info("caller_hung_up", node=call.current_node, how=exc.how)
            if call.outcome is None:
                call.outcome = Outcome.CALLER_HANGUP
            # else: the call was already decided (goodbye played, hand-off set): it stands.
            return
        except asyncio.CancelledError:
            # Shutdown drain ran out: hand the caller on rather than drop them.
            call.record.error = "cancelled during shutdown"
            await asyncio.shield(self._rescue(call, "ivr_shutdown", play_apology=False))
            raise
        except Exception as exc:
            call.record.error = scrub_numbers(f"{type(exc).__name__}: {exc}")
            call.log.error("call_failed", node=call.current_node, error=call.record.error,
                           exc_info=not isinstance(exc, AgiError))
            await self._rescue(call, "ivr_error")
            return
        await self._set_outcome_variable(call)

    async def _rescue(self, call: Call, reason: str, *, play_apology: bool = True) -> None:
        """The IVR failed: apologise if possible and hand the caller to an agent."""
        channel = call.channel
        call.outcome = Outcome.ERROR_ROUTED
        call.record.queue = self.fallback_queue
        call.record.reason = reason
        if channel.hung_up:
            # The dialplan's safety net routes if the channel is somehow still
            # up; if the caller left, the outcome says so.
            call.outcome = Outcome.CALLER_HANGUP
            call.record.hangup_node = call.current_node
            return
        try:
            if play_apology and self.apology_prompt:
                try:
                    await channel.stream_file(self.apology_prompt, "", max_seconds=15)
                except AgiError as exc:
                    if isinstance(exc, CallerHungUp):
                        raise
                    call.log.warning("apology_not_played", error=str(exc))
            await dialplan.hand_off(channel, self.fallback_queue, reason)
            await dialplan.set_outcome(channel, Outcome.ERROR_ROUTED.value)
        except CallerHungUp:
            call.outcome = Outcome.CALLER_HANGUP
            call.record.hangup_node = call.current_node
        except Exception as exc:
            # Cannot even set variables: the dialplan's own safety net
            # (Queue(contractor) when IVR_QUEUE is empty) still routes.
            call.log.error("rescue_failed", error=f"{type(exc).__name__}: {exc}")

    async def _unknown_flow(self, call: Call) -> None:
        """No flow for this request path: say so in the Asterisk log and route to an agent.

        Routing instead of hanging up keeps a misconfigured dialplan from
        dropping callers; the VERBOSE line tells the administrator what to fix.
        """
        # The path is the dialplan's (or a peer's) text: control characters would break the command line.
        path = printable(call.record.request)
        call.record.error = f"no flow for request path {path!r}"
        call.log.error("unknown_flow", request=path)
        try:
            await call.channel.verbose(f"IVR ERROR: no flow for AGI request path '{path}'", 1)
        except (AgiError, ValueError) as exc:
            call.log.warning("verbose_failed", error=str(exc))
        await self._rescue(call, "unknown_flow", play_apology=False)

    async def _broken_environment(self, call: Call, problems: tuple[str, ...]) -> None:
        """Asterisk's environment block was broken by a field's content (a caller ID with a line break):
        nothing in it past the break can be trusted, so no flow runs; the caller is handed to an agent
        with an apology, and the call has its record (under the identity sent before the break)."""
        call.record.error = scrub_numbers(printable("broken AGI environment: " + "; ".join(problems)))[:500]
        call.log.error("agi_environment_broken", problems=[scrub_numbers(printable(p)) for p in problems])
        await self._rescue(call, "bad_environment")

    async def _set_outcome_variable(self, call: Call) -> None:
        assert call.outcome is not None
        if call.outcome is Outcome.CALLER_HANGUP or call.channel.hung_up:
            return
        try:
            await dialplan.set_outcome(call.channel, call.outcome_text)
        except CallerHungUp:
            pass  # the outcome stands: the caller left after it was decided

    def _write_record(self, call: Call, session: AgiSession) -> None:
        record = call.record
        if call.outcome is None:
            call.outcome = Outcome.CALLER_HANGUP if session.hung_up else Outcome.ERROR_ROUTED
        record.outcome = call.outcome_text
        record.ended_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        record.duration_ms = int((time.monotonic() - call.started_monotonic) * 1000)
        record.agi_commands = session.commands_sent
        try:
            self.store.write(record)
        except Exception:
            log.exception("record_write_failed", call_id=call.call_id)
        if self.on_call_ended is not None:
            self.on_call_ended(record, session.latencies)
        if self.on_call_closed is not None:
            try:
                self.on_call_closed(call, record)
            except Exception:
                log.exception("call_closed_hook_failed", call_id=call.call_id)
        call.log.info("call_ended", outcome=record.outcome, duration_ms=record.duration_ms,
                      queue=record.queue, reason=record.reason, error=record.error or None)
