"""``ivr lab`` and ``ivr sip-call``: the whole line on one machine, and real SIP calls into it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from ..logs import configure_logging

if TYPE_CHECKING:
    from ..lab.lab import Lab

__all__ = ["commands"]

commands = typer.Typer()

@commands.command("lab")
def lab_cmd(
    clock: Optional[str] = typer.Option(None, "--clock", metavar="ISO_TIME",
        help="Start the IVR's wall clock here (ISO time, libfaketime)."),
    model: Optional[Path] = typer.Option(None, "--model", metavar="DIR", help="A Vosk model: questions over AudioSocket."),
    sip_port: Optional[int] = typer.Option(None, "--sip-port", metavar="PORT", min=1, max=65535,
        help="Asterisk's SIP port (default: a free one)."),
) -> None:
    """The whole line on this machine: Asterisk (IVR_ASTERISK or ../shared/asterisk-22) with the product's
    configuration, ivr serve and the tracking stub; prints where a softphone calls; Ctrl-C stops it."""
    from datetime import datetime

    from ..lab.bundle import AsteriskNotFound
    from ..lab.lab import Lab, LabOptions
    from ..lab.services import ServiceFailed

    try:
        options = LabOptions(ivr_clock=datetime.fromisoformat(clock) if clock else None, speech_model=model)
    except ValueError as exc:
        typer.echo(f"ivr lab: --clock: {exc}", err=True)
        raise typer.Exit(2) from None
    lab = Lab(options)
    if sip_port:
        lab.sip_port = sip_port
    try:
        lab.start()
    except (AsteriskNotFound, ServiceFailed, OSError, ValueError) as exc:
        lab.stop()
        typer.echo(f"ivr lab: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(_ready_text(lab))
    _run_until_stopped(lab)


def _ready_text(lab: Lab) -> str:
    """Where a softphone, a browser and a manager client reach the lab, with their credentials."""
    s = lab.secrets
    return f"""34 00 line ready (folder {lab.dir}):
  SIP      {lab.host}:{lab.sip_port}  dial 3400; users phone1 / {s.phone1}, tester / {s.tester},
           agent1 / {s.agent1} and agent2 / {s.agent2} (register to take queue calls)
  admin    {lab.admin_url}  (Authorization: Bearer {s.admin_token})
  AMI      {lab.host}:{lab.ami_port}  user {s.ami_user}
  logs     {lab.dir}/asterisk/log/messages, {lab.dir}/ivr.log
Ctrl-C stops everything."""


def _run_until_stopped(lab: Lab) -> None:
    """Until Ctrl-C, SIGTERM or Asterisk ending; then everything stops."""
    import signal

    stopped = False

    def _stop(*_: object) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopped and lab.asterisk is not None and lab.asterisk.running:
            time.sleep(0.5)  # a person's Ctrl-C: nothing waits on it
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()


@commands.command("sip-call")
def sip_call(
    scenario: list[Path] = typer.Argument(..., metavar="SCENARIOS...", help="Scenario files or folders."),
    proxy: str = typer.Option(..., "--proxy", metavar="HOST:PORT", help="Asterisk's SIP address HOST:PORT."),
    user: str = typer.Option("tester", "--user", metavar="USER", help="SIP user (the PJSIP endpoint)."),
    number: str = typer.Option("3400", "--number", metavar="NUMBER", help="Number to dial."),
    test_number: str = typer.Option("3499", "--test-number", metavar="NUMBER", help="Number for scenarios that set call.at."),
    local_ip: Optional[str] = typer.Option(None, "--local-ip", metavar="ADDRESS", help="Address to advertise in SIP/SDP."),
    admin: Optional[str] = typer.Option(None, "--admin", metavar="URL", help="IVR admin URL: check outcomes in its "
                                        "call records, and switch on the closure notices scenarios ask for."),
    concurrency: int = typer.Option(1, "--concurrency", metavar="N", min=1, help="Calls at once."),
    stay: float = typer.Option(20.0, "--stay", metavar="SECONDS", min=0, help="Seconds to stay in the queue once handed off."),
) -> None:
    """Place real SIP calls (G.711, RFC 4733 keys) playing scenarios; the password comes from IVR_SIP_PASSWORD.

    One JSON line per call (outcome from the IVR's record, found by SIP Call-ID; seconds of
    speech-level audio heard), then a summary line; exit 1 when any call failed.
    """
    from ..config import TesterSettings
    from ..sim.notices import AdminNotices
    from ..sim.sip import AdminRecords, SipCaller, run_sip_scenarios
    from .arguments import host_port, http_url

    host, port = host_port(proxy, "--proxy", default_port=5060)
    admin = http_url(admin, "--admin") if admin else None
    secrets = TesterSettings()
    password = secrets.sip_password.get_secret_value()
    if not password:
        typer.echo("ivr sip-call: set IVR_SIP_PASSWORD (the tester endpoint's SIP password)", err=True)
        raise typer.Exit(2)
    configure_logging("json", "warning")
    from .serving import load_scenario_files

    scenarios = load_scenario_files(scenario)
    records = AdminRecords(admin, secrets.admin_token.get_secret_value()) if admin else None
    caller = SipCaller(f"{host}:{port}", user, password, number=number, test_number=test_number, local_ip=local_ip,
                       stay_in_queue=stay, record=records)
    notices = AdminNotices(admin, secrets.admin_token.get_secret_value()) if admin else None
    results = asyncio.run(run_sip_scenarios(caller, scenarios, concurrency=concurrency, record=records,
                                            notices=notices))
    for r, rec, failures in results:
        line = {**r.to_json(), "passed": not failures, "failures": failures}
        if rec is not None:
            line["record"] = {k: rec.get(k) for k in ("outcome", "queue", "reason", "uniqueid", "duration_ms",
                                                      "hangup_node")}
        print(json.dumps(line, ensure_ascii=False))
    failed = sum(bool(f) for _, _, f in results)
    print(json.dumps({"calls": len(results), "passed": len(results) - failed, "failed": failed}))
    raise typer.Exit(1 if failed else 0)
