"""The simulated Asterisk answers commands as the captures show a real one does."""

from __future__ import annotations

from collections import deque

from ivr.edges.agi.protocol import build_environment
from ivr.sim.channel import SimChannel, build_env_block
from ivr.sim.scenario import CallSetup, Hangup, Press, Silence


def chan(*steps, lengths=None) -> SimChannel:
    lengths = lengths or {}
    return SimChannel(deque(steps), "1.1", "PJSIP/caller-1",
                      prompt_length=lambda p: lengths.get(p, 2.0) if p.startswith("/") else None)


def test_env_block_matches_asterisk_shape():
    block = build_env_block(CallSetup(), host="127.0.0.1", port=4573, uniqueid="1.2", args=["arg one"])
    assert block.endswith("\n\n")
    env = build_environment(block[:-2].split("\n"))
    assert env.request_path == "ants-3400" and env.args == ["arg one"]
    assert "agi_accountcode: \n" in block
    keys = [l.split(":")[0] for l in block.splitlines() if l]
    assert keys[:4] == ["agi_network", "agi_network_script", "agi_request", "agi_channel"]


def test_env_block_of_a_pjsip_call_is_the_one_the_products_dialplan_gives_on_asterisk_22():
    """tests/captures/lab-3499: a real SIP call to 3499 through asterisk/etc (tests/e2e captured it)."""
    from datetime import datetime

    from ivr.sim.peer import _dialplan_args
    from ivr.sim.scenario import Scenario
    from tests.conftest import load_capture

    real = [tuple(line.split(": ", 1)) for line in load_capture("lab-3499")[0]["data"].splitlines() if line]
    call_id = dict(real)["agi_arg_1"].removeprefix("sip_call_id=")
    at = datetime.fromisoformat(dict(real)["agi_arg_2"].removeprefix("sim_now="))
    sc = Scenario.model_validate({"name": "x", "call": {"at": at, "caller": dict(real)["agi_callerid"]}})
    args = _dialplan_args(sc, "1.1")
    assert args[0].startswith("sip_call_id=") and args[1] == dict(real)["agi_arg_2"]
    block = build_env_block(sc.call, host="127.0.0.1", port=4573, uniqueid="1.1", args=[f"sip_call_id={call_id}",
                                                                                          args[1]])
    sim = [tuple(line.split(": ", 1)) for line in block.splitlines() if line]
    assert [k for k, _ in sim] == [k for k, _ in real]
    differ = {k for (k, v), (_, w) in zip(sim, real, strict=True) if v != w}
    # Only what differs from call to call, or from one Asterisk build to another.
    assert differ <= {"agi_request", "agi_channel", "agi_uniqueid", "agi_version", "agi_threadid"}


def test_get_data_replies_like_asterisk():
    assert chan(Press(digits="12#")).handle("GET DATA /p 4000 4").lines == "200 result=12\n"
    assert chan(Press(digits="12")).handle("GET DATA /p 2500 4").lines == "200 result=12 (timeout)\n"
    assert chan(Silence()).handle("GET DATA /p 1500 4").lines == "200 result= (timeout)\n"
    assert chan().handle("GET DATA missing 4000 4").lines == "200 result=-1\n"
    c = chan(Press(digits="12345"))
    assert c.handle("GET DATA /p 4000 4").lines == "200 result=1234\n"
    assert c.typed_ahead == "5"


def test_stream_file_replies_like_asterisk():
    assert chan().handle('STREAM FILE /p ""').lines == "200 result=0 endpos=16000\n"
    assert chan().handle('STREAM FILE does-not-exist ""').lines == "200 result=-1 endpos=0\n"
    barge = chan(Press(digits="1", barge=True)).handle('STREAM FILE /p "0123456789*#"')
    assert barge.lines == "200 result=49 endpos=8000\n"
    # A key pressed after the prompt does not interrupt it.
    assert chan(Press(digits="1")).handle('STREAM FILE /p "0123456789*#"').lines == "200 result=0 endpos=16000\n"


def test_wait_for_digit_and_hangup_sequence():
    c = chan(Press(digits="5"), Silence(), Hangup())
    assert c.handle("WAIT FOR DIGIT 5000").lines == "200 result=53\n"
    assert c.handle("WAIT FOR DIGIT 500").lines == "200 result=0\n"
    assert c.handle("WAIT FOR DIGIT 15000").lines == "200 result=-1\n"
    assert c.handle("WAIT FOR DIGIT 1000").lines == (
        "HANGUP\n511 Command Not Permitted on a dead channel or intercept routine\n")
    assert c.handle("ANSWER").lines == "511 Command Not Permitted on a dead channel or intercept routine\n"


def test_hangup_between_commands_is_unsolicited():
    c = chan(Hangup(when="between"))
    assert c.handle("ANSWER").lines == "200 result=0\n"
    assert c.after_reply() == "HANGUP\n"
    assert c.handle("CHANNEL STATUS").lines.startswith("511 ")


def test_variables_errors_and_exec():
    c = chan()
    assert c.handle('SET VARIABLE IVR_QUEUE "contractor"').lines == "200 result=1\n"
    assert c.handle("GET VARIABLE IVR_QUEUE").lines == "200 result=1 (contractor)\n"
    assert c.handle("GET VARIABLE NOPE").lines == "200 result=0\n"
    assert c.handle('GET FULL VARIABLE "${CHANNEL}"').lines == "200 result=1 (PJSIP/caller-1)\n"
    assert c.handle("FOO BAR").lines == "510 Invalid or unknown command\n"
    usage = c.handle("STREAM FILE").lines
    assert usage.startswith("520-Invalid command syntax.  Proper usage follows:\n")
    assert usage.endswith("520 End of proper usage.\n")
    assert c.handle("EXEC NoSuchApp foo").lines == "200 result=-2\n"
    assert c.handle("EXEC AudioSocket x,127.0.0.1:9").lines == "200 result=-1\n"
    assert c.handle("GOSUB ctx s 1").lines == "100 result=0 Trying...\n200 result=0 Gosub complete\n"
    assert c.handle("RECORD FILE spool/rec1 wav \"#\" 1500 0 s=1").lines == "200 result=-1 (writefile)\n"
