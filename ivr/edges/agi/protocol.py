"""AGI wire format: the environment block, command lines and replies.

Pure functions and value types only, no I/O, so that the parser can be tested
line by line against transcripts captured from a real Asterisk (see
``tests/test_agi_protocol.py``).

Reply shapes seen on the wire::

    200 result=0 endpos=6005          STREAM FILE completed
    200 result=49 endpos=9760         STREAM FILE interrupted by DTMF "1"
    200 result=12 (timeout)           GET DATA, partial input
    200 result= (timeout)             GET DATA, no input
    200 result=1 (contractor)         GET VARIABLE
    200 result=-1 (writefile)         RECORD FILE into a missing directory
    100 result=0 Trying...            intermediate (GOSUB), the final line follows
    510 Invalid or unknown command
    511 Command Not Permitted on a dead channel or intercept routine
    520-Invalid command syntax.  Proper usage follows:   (multi-line, ends "520 End ...")
    HANGUP                            unsolicited, the caller has gone
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "AgiEnvironment",
    "AgiReply",
    "BadEnvironment",
    "ReplyParseError",
    "parse_env_line",
    "build_environment",
    "EnvironmentReader",
    "ASTERISK_ORDER",
    "parse_status_line",
    "quote_arg",
    "format_command",
    "decode_line",
    "ReplyAssembler",
    "ReplyOutcome",
    "Answered",
    "DeadChannel",
    "Refused",
    "UsageTooLong",
]

HANGUP_LINE = "HANGUP"

#: Codes Asterisk uses for AGI replies.
CODE_OK = 200
CODE_TRYING = 100
CODE_INVALID = 510
CODE_DEAD_CHANNEL = 511
CODE_USAGE = 520


class BadEnvironment(ValueError):
    """The environment block Asterisk sent is not well formed."""


class ReplyParseError(ValueError):
    """A reply line does not follow the AGI reply grammar."""


class UsageTooLong(ReplyParseError):
    """A ``520-`` usage block that does not end: the peer is not Asterisk (the session gives up on it)."""


@dataclass(frozen=True)
class AgiEnvironment:
    """The ``agi_*`` variables Asterisk sends when a session opens.

    ``problems`` says what was wrong with a block that still came from Asterisk (a field that held a line
    break, a name sent twice): the values kept are the first ones, written before any caller-controlled
    field could add lines, and the call must not be trusted beyond its identity (it is handed to an agent).
    """

    variables: dict[str, str]
    problems: tuple[str, ...] = ()

    def get(self, name: str, default: str = "") -> str:
        """Variable by short name (``"callerid"``) or full name (``"agi_callerid"``)."""
        key = name if name.startswith("agi_") else f"agi_{name}"
        return self.variables.get(key, default)

    @property
    def args(self) -> list[str]:
        """``agi_arg_1`` … ``agi_arg_N`` in order (the AGI() application arguments)."""
        out: list[str] = []
        n = 1
        while f"agi_arg_{n}" in self.variables:
            out.append(self.variables[f"agi_arg_{n}"])
            n += 1
        return out

    def named_arg(self, name: str) -> str | None:
        """The value of the first ``name=value`` argument (the dialplan passes options this way), or None."""
        prefix = f"{name}="
        return next((a[len(prefix):] for a in self.args if a.startswith(prefix)), None)

    @property
    def request_path(self) -> str:
        """The flow name the dialplan asked for, e.g. ``ants-3400``.

        FastAGI puts the part after ``host:port/`` in ``agi_network_script``;
        classic AGI only has ``agi_request`` (a script path). Query strings
        and surrounding slashes are dropped.
        """
        script = self.variables.get("agi_network_script", "")
        if not script:
            request = self.variables.get("agi_request", "")
            script = urlsplit(request).path if "://" in request else request
        script = script.split("?", 1)[0].strip("/")
        return script

    @property
    def is_fastagi(self) -> bool:
        """Whether the script was reached over FastAGI (``agi_network: yes``)."""
        return self.variables.get("agi_network", "").lower() == "yes"


_ENV_LINE = re.compile(r"^(agi_[A-Za-z0-9_]+): ?(.*)$")


def parse_env_line(line: str) -> tuple[str, str]:
    """Parse one ``agi_name: value`` line of the environment block.

    The value keeps inner spaces (``agi_arg_1: arg one``); Asterisk writes
    ``agi_accountcode: `` with a trailing space and no value, which gives ``""``.
    """
    m = _ENV_LINE.match(line)
    if not m:
        raise BadEnvironment(f"not an AGI environment line: {_shown(line)}")
    return m.group(1), m.group(2)


class EnvironmentReader:
    """The environment block, line by line (without their line break), as Asterisk writes it.

    Asterisk writes (res_agi.c, ``setup_env``) ``agi_network``/``agi_network_script`` for FastAGI, then
    ``agi_request`` … ``agi_threadid`` in a fixed order (:data:`ASTERISK_ORDER`) — the caller's number
    and name, the dialled and redirecting numbers among them, raw — then ``agi_arg_N``, then an empty
    line. A line break inside a caller's field therefore shows as extra lines, a repeated name or an
    empty line too early, all of them between ``agi_callerid`` and ``agi_rdnis``. So: an empty line ends
    the block only once ``agi_threadid`` (always sent, after every caller field) has come; of a name sent
    twice, the value at Asterisk's place for it is kept (the first for a name written before the caller
    fields, the last for one written after them); and each of these is a problem: the call is not
    trusted beyond that identity. A first line that is not ``agi_…`` is not Asterisk: :class:`BadEnvironment`.
    """

    END_AFTER = "agi_threadid"

    def __init__(self, max_lines: int = 256) -> None:
        self.max_lines = max_lines
        self.variables: dict[str, str] = {}
        self.problems: list[str] = []
        self.lines = 0

    def feed(self, line: str) -> AgiEnvironment | None:
        """One line; the environment once its end has come, else None."""
        if line == "":
            if not self.lines:
                return None  # a stray empty line before the block
            if self.END_AFTER in self.variables:
                return self._environment()
            self._problem(f"an empty line before {self.END_AFTER}: a field held a line break")
            return None
        self.lines += 1
        if self.lines > self.max_lines:
            raise BadEnvironment(f"environment block has more than {self.max_lines} lines")
        try:
            name, value = parse_env_line(line)
        except BadEnvironment:
            if not self.variables:
                raise  # not Asterisk: nothing to hand to an agent
            self._problem(f"a line that is not a field ({_shown(line)}): a field held a line break")
            return None
        if name in self.variables:
            after = _written_after_caller_fields(name)
            self._problem(f"{name} sent twice (the {'last' if after else 'first'} value is kept)")
            if not after:
                return None
        self.variables[name] = value
        return None

    def _problem(self, text: str) -> None:
        if len(self.problems) < 8:
            self.problems.append(text)

    def _environment(self) -> AgiEnvironment:
        if "agi_request" not in self.variables:
            raise BadEnvironment("environment block has no agi_request")
        return AgiEnvironment(dict(self.variables), tuple(self.problems))


#: The fields of Asterisk's environment block in the order it writes them (res_agi.c: the FastAGI pair,
#: then ``setup_env``); ``agi_arg_N`` follow. Fields from ``agi_callerid`` to ``agi_rdnis`` come from the caller.
ASTERISK_ORDER = ("agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language", "agi_type",
                  "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname", "agi_callingpres",
                  "agi_callingani2", "agi_callington", "agi_callingtns", "agi_dnid", "agi_rdnis", "agi_context",
                  "agi_extension", "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid")
_LAST_CALLER_FIELD = ASTERISK_ORDER.index("agi_rdnis")


def _written_after_caller_fields(name: str) -> bool:
    """Asterisk writes ``name`` after every field a caller controls (its genuine line comes last)."""
    if name in ASTERISK_ORDER:
        return ASTERISK_ORDER.index(name) > _LAST_CALLER_FIELD
    return name.startswith("agi_arg_")


def _shown(line: str) -> str:
    return repr(line if len(line) <= 60 else line[:57] + "...")


def build_environment(lines: list[str]) -> AgiEnvironment:
    """Turn the lines of an environment block (without the empty end line) into an environment."""
    variables: dict[str, str] = {}
    for line in lines:
        name, value = parse_env_line(line)
        variables[name] = value
    if "agi_request" not in variables:
        raise BadEnvironment("environment block has no agi_request")
    return AgiEnvironment(variables)


@dataclass(frozen=True)
class AgiReply:
    """One final reply to an AGI command.

    ``result`` is the raw text after ``result=`` (may be empty, as in
    ``200 result= (timeout)``); ``data`` is what stood in parentheses;
    ``extras`` holds trailing ``key=value`` pairs such as ``endpos``; ``text``
    is any other trailing text (``Gosub complete``). ``usage`` is the body of a
    multi-line 520 reply.
    """

    code: int
    result: str = ""
    data: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    text: str = ""
    usage: str = ""
    raw: str = ""

    @property
    def result_int(self) -> int | None:
        """``result`` as an integer, or None when it is empty or not a number."""
        try:
            return int(self.result)
        except ValueError:
            return None

    @property
    def result_code(self) -> int:
        """``result`` as the integer commands return, -1 (failure) when it is not a number."""
        value = self.result_int
        return -1 if value is None else value

    @property
    def endpos(self) -> int | None:
        """Where playback stopped (``endpos=``), when Asterisk says."""
        value = self.extras.get("endpos")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None


_STATUS = re.compile(r"^(\d{3})([ -])(.*)$")
_TRAILING_KV = re.compile(r"\s+([A-Za-z_]+)=(-?\d+)$")


def parse_status_line(line: str) -> tuple[int, bool, str]:
    """Split a reply line into (code, is_continuation, rest).

    ``is_continuation`` is True for ``520-...`` lines that open a multi-line reply.
    """
    m = _STATUS.match(line)
    if not m:
        shown = line if len(line) <= 80 else line[:77] + "..."
        raise ReplyParseError(f"not an AGI reply line: {shown!r}")
    return int(m.group(1)), m.group(2) == "-", m.group(3)


def parse_result(code: int, rest: str, raw: str) -> AgiReply:
    """Parse the part of a ``200``/``100`` line after the code.

    The parenthesised data may itself contain spaces and parentheses (a
    variable's value is written raw), so trailing ``key=number`` pairs are
    peeled off the end first and the data is whatever the outer parentheses
    enclose.
    """
    if not rest.startswith("result="):
        raise ReplyParseError(f"reply has no result=: {raw!r}")
    body = rest[len("result="):]
    extras: dict[str, str] = {}
    while True:
        m = _TRAILING_KV.search(body)
        if not m:
            break
        extras[m.group(1)] = m.group(2)
        body = body[: m.start()]
    extras = dict(reversed(list(extras.items())))
    result, _, tail = body.partition(" ")
    data: str | None = None
    text = ""
    tail = tail.strip()
    if tail.startswith("(") and tail.endswith(")"):
        data = tail[1:-1]
    elif tail:
        text = tail
    # An empty result is legal ("200 result= (timeout)"), so only the data
    # part is checked for shape.
    return AgiReply(code=code, result=result, data=data, extras=extras, text=text, raw=raw)


def quote_arg(value: str) -> str:
    """Quote one command argument the way Asterisk's AGI argument splitter expects.

    Asterisk splits on spaces outside double quotes and honours backslash
    escapes, so embedded quotes and backslashes are escaped. Newlines would end
    the command early and are rejected.
    """
    if "\n" in value or "\r" in value:
        raise ValueError("AGI arguments cannot contain line breaks")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_BARE_OK = re.compile(r"^[A-Za-z0-9_./:@,=+\-${}()]+$")


def format_command(name: str, *args: str | int, quote: tuple[int, ...] = ()) -> str:
    """Build one command line (with its ``\\n``).

    Arguments are written bare when they are plain tokens; positions listed in
    ``quote`` (and any argument with a space, a quote or that is empty) are
    double-quoted, as Asterisk's own examples do for escape digits and
    variable values.
    """
    parts = [name]
    for i, arg in enumerate(args):
        text = str(arg)
        if "\n" in text or "\r" in text:
            raise ValueError("AGI arguments cannot contain line breaks")
        if i in quote or not text or not _BARE_OK.match(text):
            parts.append(quote_arg(text))
        else:
            parts.append(text)
    return " ".join(parts) + "\n"


def split_command(line: str) -> list[str]:
    """Split a command line into words the way Asterisk's AGI parser does.

    Spaces separate words outside double quotes; a backslash escapes the next
    character; quotes are removed. Used by the simulator (Asterisk's side).
    """
    words: list[str] = []
    current: list[str] = []
    in_word = quoted = escaped = False
    for ch in line.rstrip("\r\n"):
        if escaped:
            current.append(ch)
            in_word = True
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            in_word = True
        elif ch in " \t" and not quoted:
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        else:
            current.append(ch)
            in_word = True
    if in_word:
        words.append("".join(current))
    return words


# -- replies, line by line ----------------------------------------------------------------------


def decode_line(raw: bytes, max_line: int) -> str:
    """One line as read from the peer (``\n`` included, or cut at ``max_line`` bytes), as text.

    Raises :class:`ReplyParseError` for a line longer than ``max_line``: no reply of Asterisk's is.
    """
    if len(raw) > max_line or (not raw.endswith(b"\n") and len(raw) >= max_line):
        raise ReplyParseError(f"reply line longer than {max_line} bytes")
    return raw.decode("utf-8", errors="replace").rstrip("\r\n")


@dataclass(frozen=True)
class Answered:
    """``200``: the command ran; its result."""

    reply: AgiReply


@dataclass(frozen=True)
class DeadChannel:
    """``511``: the channel is gone (the caller hung up); no command will run on it any more."""

    line: str


@dataclass(frozen=True)
class Refused:
    """``510`` (unknown command) or ``520`` (wrong usage, with Asterisk's usage text)."""

    code: int
    message: str
    usage: str = ""


#: What the lines answering one command come to.
ReplyOutcome = Answered | DeadChannel | Refused


class ReplyAssembler:
    """The lines answering one command in (``HANGUP`` notices taken out), its outcome out.

    ``feed`` returns None while the reply goes on (``100 Trying``, the body of a ``520-`` block) and
    the outcome on its last line. Lines that are not AGI raise :class:`ReplyParseError`; a usage
    block longer than ``max_usage_lines`` (Asterisk's longest is about 20) raises :class:`UsageTooLong`.
    """

    def __init__(self, max_usage_lines: int = 64) -> None:
        self.max_usage_lines = max_usage_lines
        self._usage: list[str] | None = None  # inside a ``520-`` block: its lines so far
        self._message = ""

    def feed(self, line: str) -> ReplyOutcome | None:
        """Take one reply line; the reply once it is whole, None while more lines are due."""
        if self._usage is not None:
            return self._usage_line(line)
        code, continued, rest = parse_status_line(line)
        if code == CODE_TRYING:
            return None  # e.g. GOSUB: "100 result=0 Trying..." then the final line
        if code == CODE_OK:
            return Answered(parse_result(code, rest, line))
        if code == CODE_DEAD_CHANNEL:
            return DeadChannel(line)
        if code == CODE_INVALID or (code == CODE_USAGE and not continued):
            return Refused(code, rest)
        if code == CODE_USAGE:
            self._usage, self._message = [], rest
            return None
        raise ReplyParseError(f"unexpected reply code {code}: {line!r}")

    def _usage_line(self, line: str) -> Refused | None:
        assert self._usage is not None
        if line.startswith(f"{CODE_USAGE} "):
            return Refused(CODE_USAGE, self._message, "\n".join(self._usage))
        if len(self._usage) >= self.max_usage_lines:
            raise UsageTooLong(f"usage reply longer than {self.max_usage_lines} lines")
        self._usage.append(line)
        return None
