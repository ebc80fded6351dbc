"""The AGI wire-format parser, checked against lines captured from a real Asterisk."""

from __future__ import annotations

import pytest

from ivr.edges.agi.protocol import (
    HANGUP_LINE,
    Answered,
    BadEnvironment,
    DeadChannel,
    EnvironmentReader,
    Refused,
    ReplyAssembler,
    ReplyParseError,
    UsageTooLong,
    build_environment,
    decode_line,
    format_command,
    parse_result,
    parse_status_line,
    split_command,
)
from tests.conftest import load_capture


def _env_lines(folder: str) -> list[str]:
    first = load_capture(folder)[0]
    assert first["dir"] == "asterisk->ivr"
    block = first["data"]
    assert block.endswith("\n\n")
    return block[:-2].split("\n")


@pytest.mark.parametrize("folder", ["commands", "sip", "edge", "route", "sip-dtmf"])
def test_environment_from_real_asterisk(folder):
    env = build_environment(_env_lines(folder))
    assert env.request_path == "ants-3400"
    assert env.is_fastagi
    assert env.args == ["arg one", "arg2"]  # arguments keep inner spaces
    assert env.get("accountcode") == ""  # "agi_accountcode: " has a trailing space and no value
    assert env.get("callerid") == "0612345678"


def test_request_path_falls_back_to_agi_request():
    env = build_environment(["agi_request: agi://10.0.0.1:4573/ants-3400?x=1"])
    assert env.request_path == "ants-3400"
    classic = build_environment(["agi_request: /usr/share/asterisk/agi-bin/ivr-agi"])
    assert classic.request_path == "usr/share/asterisk/agi-bin/ivr-agi"


@pytest.mark.parametrize("line", ["GET / HTTP/1.1", "hello", "agi_request"])
def test_garbage_environment_lines_are_rejected(line):
    with pytest.raises(BadEnvironment):
        build_environment([line])


def test_environment_without_request_is_rejected():
    with pytest.raises(BadEnvironment, match="agi_request"):
        build_environment(["agi_channel: PJSIP/x"])


def _read(block: str) -> object:
    """Feed a block line by line, as the server does; the environment, or None if it never ended."""
    reader = EnvironmentReader()
    for line in block.split("\n"):
        env = reader.feed(line)
        if env is not None:
            return env
    return None


def _asterisk_block(callerid: str = "0612345678", name: str = "unknown") -> str:
    """What Asterisk writes for a PJSIP call through the product's dialplan, a caller ID put in raw."""
    lines = load_capture("lab-3499")[0]["data"]
    return lines.replace("agi_callerid: 0696653788", f"agi_callerid: {callerid}") \
                .replace("agi_calleridname: unknown", f"agi_calleridname: {name}")


@pytest.mark.parametrize("folder", ["commands", "sip", "edge", "route", "sip-dtmf", "lab-3499"])
def test_the_reader_ends_real_blocks_where_asterisk_ends_them_with_no_problem(folder):
    env = _read(load_capture(folder)[0]["data"])
    assert env.request_path == "ants-3400" and env.problems == ()
    assert env.get("threadid").isdigit()


@pytest.mark.parametrize("callerid, forged, problem", [
    # The audit's forgeries: a line break in the caller ID adds fields Asterisk never sent.
    ("0612\nagi_network_script: autre-flux", "network_script", "agi_network_script sent twice"),
    ("0612\nagi_uniqueid: 1.999\nagi_channel: PJSIP/autre", "uniqueid", "agi_uniqueid sent twice"),
    ("0612\nagi_arg_2: sim_now=2026-11-29T03:00:00+01:00", "arg_2", "agi_arg_2 sent twice"),
    # A blank line (the old parser's end) or a line that is not a field: the block goes on to its real end.
    ("0612\n\nagi_network_script: autre-flux", "network_script", "an empty line before agi_threadid"),
    ("0612\nEvent: QueueCallerJoin", None, "a line that is not a field ('Event: QueueCallerJoin')"),
])
def test_a_caller_id_with_line_breaks_cannot_forge_the_environment(callerid, forged, problem):
    genuine = _read(_asterisk_block())
    env = _read(_asterisk_block(callerid))
    assert env is not None and any(problem in p for p in env.problems), env.problems
    # What Asterisk sent before the break is what is kept: the flow, the call's id, its channel, its args.
    for field in ("network_script", "uniqueid", "channel", "arg_1", "arg_2", "threadid"):
        assert env.get(field) == genuine.get(field), field
    assert env.get("callerid") == "0612"


def test_a_first_line_that_is_not_a_field_is_not_asterisk():
    with pytest.raises(BadEnvironment):
        EnvironmentReader().feed("GET / HTTP/1.1")


def _reply(line: str):
    code, cont, rest = parse_status_line(line)
    assert not cont
    return parse_result(code, rest, line)


@pytest.mark.parametrize(
    "line, result, data, endpos",
    [
        ("200 result=0 endpos=6005", "0", None, 6005),
        ("200 result=49 endpos=9760", "49", None, 9760),
        ("200 result=-1 endpos=0", "-1", None, 0),
        ("200 result=12", "12", None, None),
        ("200 result=12 (timeout)", "12", "timeout", None),
        ("200 result= (timeout)", "", "timeout", None),
        ("200 result=1 (contractor)", "1", "contractor", None),
        ("200 result=0", "0", None, None),
        ("200 result=-1 (writefile)", "-1", "writefile", None),
        ("200 result=0 (timeout) endpos=8257", "0", "timeout", 8257),
        ("200 result=35 (dtmf) endpos=12000", "35", "dtmf", 12000),
        ("200 result=1 (Local/s@caller-00000000;1)", "1", "Local/s@caller-00000000;1", None),
        ("200 result=1 (a value (with) parens)", "1", "a value (with) parens", None),
    ],
)
def test_reply_shapes(line, result, data, endpos):
    reply = _reply(line)
    assert (reply.result, reply.data, reply.endpos) == (result, data, endpos)


def test_every_captured_reply_parses():
    seen = 0
    for folder in ["commands", "sip", "edge", "route", "sip-dtmf"]:
        for entry in load_capture(folder)[1:]:
            if entry["dir"] != "asterisk->ivr":
                continue
            for line in entry["data"].splitlines():
                if line == "HANGUP":
                    continue
                code, cont, rest = parse_status_line(line) if line[:3].isdigit() else (None, None, None)
                if code is None:
                    continue  # body of a 520 usage block
                if code in (100, 200):
                    parse_result(code, rest, line)
                seen += 1
    assert seen > 60


def test_trying_and_multiline_markers():
    assert parse_status_line("100 result=0 Trying...") == (100, False, "result=0 Trying...")
    assert _reply("200 result=0 Gosub complete").text == "Gosub complete"
    assert parse_status_line("520-Invalid command syntax.  Proper usage follows:")[1] is True


@pytest.mark.parametrize("line", ["", "OK", "2000 result=1", "abc result=1"])
def test_bad_reply_lines(line):
    with pytest.raises(ReplyParseError):
        parse_status_line(line)


def test_commands_are_formatted_like_the_captures():
    assert format_command("STREAM FILE", "ivr-welcome", "0123456789*#", quote=(1,)) == 'STREAM FILE ivr-welcome "0123456789*#"\n'
    assert format_command("SAY DIGITS", "123", "", quote=(1,)) == 'SAY DIGITS 123 ""\n'
    assert format_command("SET VARIABLE", "IVR_QUEUE", "contractor", quote=(1,)) == 'SET VARIABLE IVR_QUEUE "contractor"\n'
    assert format_command("GET DATA", "ivr-welcome", 4000, 4) == "GET DATA ivr-welcome 4000 4\n"
    assert format_command("VERBOSE", "capture start", 1, quote=(0,)) == 'VERBOSE "capture start" 1\n'


def test_quoting_round_trips_through_asterisk_style_splitting():
    tricky = 'il a dit "bonjour" \\ au revoir'
    line = format_command("SET VARIABLE", "X", tricky, quote=(1,))
    assert split_command(line) == ["SET", "VARIABLE", "X", tricky]


def test_line_breaks_cannot_be_injected():
    with pytest.raises(ValueError):
        format_command("SET VARIABLE", "X", "a\nHANGUP")


# -- replies assembled line by line (what the session reads, without the session) ----------------


def _exchanges(folder: str) -> list[tuple[str, list[str]]]:
    """Each command the IVR sent in a capture, with the lines Asterisk answered before the next one
    (``HANGUP`` notices left out: the session's reader takes them out too)."""
    out: list[tuple[str, list[str]]] = []
    for entry in load_capture(folder)[1:]:
        if entry["dir"] == "ivr->asterisk":
            out.append((entry["data"].strip(), []))
        elif entry["dir"] == "asterisk->ivr" and out:
            lines = [decode_line(raw + b"\n", 8192) for raw in entry["data"].encode().splitlines()]
            out[-1][1].extend(line for line in lines if line != HANGUP_LINE)
    return out


def _outcome(lines: list[str]):
    """The outcome the lines come to, and how many lines were left over after it."""
    assembler = ReplyAssembler()
    for i, line in enumerate(lines):
        outcome = assembler.feed(line)
        if outcome is not None:
            return outcome, len(lines) - i - 1
    return None, 0


#: (capture, command) → what its replies are, in the order the command was sent, as the session acts on them.
EXPECTED = {
    ("commands", "ANSWER"): [Answered, DeadChannel],  # the second after the caller hung up
    ("commands", "FOO BAR"): [Refused], ("commands", "STREAM FILE"): [Refused],
    ("commands", "WAIT FOR DIGIT 1000"): [DeadChannel], ("edge", "EXEC NoSuchApp foo"): [Answered],
    ("lab-3499", "HANGUP"): [Answered],
}


@pytest.mark.parametrize("folder", ["commands", "sip", "edge", "route", "sip-dtmf", "lab-3499"])
def test_every_captured_command_gets_exactly_one_outcome_from_its_lines(folder):
    exchanges = _exchanges(folder)
    assert exchanges
    seen: dict[str, list[type]] = {}
    for command, lines in exchanges:
        if not lines:
            continue  # the IVR closed the socket, or the capture ends
        outcome, left_over = _outcome(lines)
        assert outcome is not None and left_over == 0, (command, lines)
        seen.setdefault(command, []).append(type(outcome))
    for (where, command), kinds in EXPECTED.items():
        if where == folder:
            assert seen[command] == kinds, command


def test_the_usage_block_of_a_real_asterisk_comes_whole():
    [(_, lines)] = [(c, ls) for c, ls in _exchanges("commands") if c == "STREAM FILE"]
    outcome, _ = _outcome(lines)
    assert isinstance(outcome, Refused) and outcome.code == 520
    assert outcome.message.startswith("Invalid command syntax") and outcome.usage.startswith("Send the given file")
    assert len(outcome.usage.splitlines()) == len(lines) - 2


@pytest.mark.parametrize("lines, expected", [
    (["100 result=0 Trying...", "200 result=0 Gosub complete"], Answered),
    (["511 Command Not Permitted on a dead channel or intercept routine"], DeadChannel),
    (["510 Invalid or unknown command"], Refused),
    (["520 Invalid command syntax."], Refused),  # a usage reply on one line
])
def test_reply_shapes_line_by_line(lines, expected):
    outcome, left_over = _outcome(lines)
    assert isinstance(outcome, expected) and left_over == 0


def test_what_asterisk_never_sends_is_refused():
    with pytest.raises(ReplyParseError):
        ReplyAssembler().feed("OK then")
    with pytest.raises(ReplyParseError):
        ReplyAssembler().feed("404 result=0")
    endless = ReplyAssembler(max_usage_lines=3)
    endless.feed("520-Invalid command syntax.  Proper usage follows:")
    for _ in range(3):
        assert endless.feed("more usage") is None
    with pytest.raises(UsageTooLong):
        endless.feed("still more")
    with pytest.raises(ReplyParseError):
        decode_line(b"200 result=" + b"1" * 9000 + b"\n", 8192)
