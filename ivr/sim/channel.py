"""Asterisk's side of an AGI session, for one simulated channel.

:class:`SimChannel` answers each AGI command line the way Asterisk does (see
``../shared/asterisk/`` for the captures it follows), driven by the caller's
scripted steps. It is pure logic over a virtual clock: no sockets, no sleeps,
so it can be unit-tested and run hundreds of calls at once.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..edges.agi.protocol import split_command
from .scenario import CallSetup, Hangup, LineNoiseSetup, Press, Say, Silence, Step, Wait

__all__ = ["SimChannel", "Reply", "DEAD_CHANNEL", "build_env_block"]

DEAD_CHANNEL = "511 Command Not Permitted on a dead channel or intercept routine\n"
INVALID = "510 Invalid or unknown command\n"

#: Applications the simulated Asterisk has (EXEC of anything else answers -2).
KNOWN_APPS = {"audiosocket", "playback", "wait", "noop", "set", "verbose", "log", "musiconhold",
              "senddtmf", "background", "read", "queue", "dial", "goto", "gosub", "answer", "hangup"}

_seq = itertools.count(1)


def build_env_block(setup: CallSetup, *, host: str, port: int, uniqueid: str, args: list[str],
                    script: str | None = None) -> str:
    """The environment block Asterisk sends first, in Asterisk's order and format.

    With ``script`` it is a classic AGI block (no ``agi_network`` lines; the
    request is the script path, the flow its first argument).
    """
    n = next(_seq)
    if setup.channel == "PJSIP":
        # As the product's dialplan runs it (seen on Asterisk 22, tests/captures/lab-3499): the caller
        # dialled 3400 (3499 when the call gives its time), [ivr-3400] runs the AGI at s,16 (after
        # the lines filtering the caller's fields and choosing the node; the first node tried takes the call).
        channel, ctype, dnid = f"PJSIP/caller-{n:08x}", "PJSIP", "3499" if setup.at else "3400"
        extension, priority = "s", "16"
    else:
        channel, ctype, dnid = f"Local/s@caller-{n:08x};1", "Local", "unknown"
        extension, priority = "3400", "3"
    head = [("agi_request", script)] if script else [
        ("agi_network", "yes"),
        ("agi_network_script", setup.request),
        ("agi_request", f"agi://{host}:{port}/{setup.request}"),
    ]
    lines = [
        *head,
        ("agi_channel", channel),
        ("agi_language", setup.language),
        ("agi_type", ctype),
        ("agi_uniqueid", uniqueid),
        ("agi_version", "22.5.0"),
        ("agi_callerid", setup.caller),
        ("agi_calleridname", setup.caller_name),
        ("agi_callingpres", str(setup.presentation)),
        ("agi_callingani2", "0"),
        ("agi_callington", "0"),
        ("agi_callingtns", "0"),
        ("agi_dnid", dnid),
        ("agi_rdnis", "unknown"),
        ("agi_context", "ivr-3400"),
        ("agi_extension", extension),
        ("agi_priority", priority),
        ("agi_enhanced", "0.0"),
        ("agi_accountcode", ""),
        ("agi_threadid", str(139643644229312 + n)),
    ]
    lines += [(f"agi_arg_{i}", a) for i, a in enumerate(args, start=1)]
    return "".join(f"{k}: {v}\n" for k, v in lines) + "\n"


@dataclass
class Reply:
    """What the simulated Asterisk does with one command."""

    lines: str = ""  # text to send (may hold several lines: "HANGUP\n511 ...")
    close: bool = False  # drop the connection instead of answering
    #: Work to do before answering (an AudioSocket session); returns the reply text.
    run: "Callable[[], Awaitable[str]] | None" = None


@dataclass
class Event:
    """One transcript entry."""

    t: float
    who: str  # "ivr", "ast", "caller", "note"
    text: str


_USAGE = {
    "stream file": "STREAM FILE <filename> <escape_digits> [sample offset]",
    "get data": "GET DATA <file to be streamed> [timeout] [maxdigits]",
    "wait for digit": "WAIT FOR DIGIT <timeout>",
    "set variable": "SET VARIABLE <variablename> <value>",
    "get variable": "GET VARIABLE <variablename>",
    "get full variable": "GET FULL VARIABLE <expression> [channelname]",
    "say digits": "SAY DIGITS <number> <escape_digits>",
    "say number": "SAY NUMBER <number> <escape_digits> [gender]",
    "record file": "RECORD FILE <filename> <format> <escape_digits> <timeout> [offset samples] [BEEP] [s=silence]",
    "exec": "EXEC <application> <options>",
    "verbose": "VERBOSE <message> <level>",
    "gosub": "GOSUB <context> <extension> <priority> [optional-argument]",
}


def _usage(command: str) -> str:
    return (
        "520-Invalid command syntax.  Proper usage follows:\n"
        f"Usage: {_USAGE.get(command, command.upper())}\n"
        "(simulated Asterisk: see the AGI command documentation for details)\n"
        "520 End of proper usage.\n"
    )


PromptLength = Callable[[str], "float | None"]


def prompt_length_from_disk(path: str) -> float | None:
    """Seconds of audio in the file Asterisk would play for ``path``, or None if missing.

    Relative names are looked up nowhere (the simulated Asterisk has no sounds
    folder), as a real Asterisk with no ``fr`` sounds answers ``-1``.
    """
    if not os.path.isabs(path):
        return None
    for ext, rate_bytes in ((".wav", None), (".sln", 16000), (".ulaw", 8000), (".alaw", 8000), (".gsm", None)):
        f = Path(path + ext)
        if f.exists():
            if ext == ".wav":
                from ..audio.wav import wav_duration, wav_problem

                if wav_problem(f) is not None:  # Asterisk refuses to open it: STREAM FILE answers -1
                    return None
                try:
                    return wav_duration(f)
                except Exception:
                    return None
            if rate_bytes:
                return f.stat().st_size / rate_bytes
            return 1.0
    return None


@dataclass
class SimChannel:
    """One simulated channel: the caller's steps, channel variables and a virtual clock."""

    steps: deque[Step]
    uniqueid: str
    channel: str
    prompt_length: PromptLength = prompt_length_from_disk
    #: Hook for EXEC AudioSocket (set by the AudioSocket-aware peer); returns a Reply.
    audiosocket: Callable[["SimChannel", str], "Reply"] | None = None
    clock: float = 0.0
    answered: bool = True  # the dialplan answers before AGI()
    dead: bool = False
    hangup_sent: bool = False
    hung_up_by_ivr: bool = False
    typed_ahead: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    verbose: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    commands: int = 0
    commands_after_hangup: int = 0
    hangup_before_command: int | None = None
    #: Noise on the line, added to all the caller sends over AudioSocket (None: a quiet line).
    line_noise: LineNoiseSetup | None = None

    # -- caller script ---------------------------------------------------

    def _skip_waits(self) -> None:
        while self.steps and isinstance(self.steps[0], Wait):
            wait = self.steps.popleft()
            assert isinstance(wait, Wait)
            self.clock += wait.seconds
            self.note("caller", f"waits {wait.seconds:g} s")

    def peek(self) -> Step | None:
        """The caller's next step, without taking it."""
        self._skip_waits()
        return self.steps[0] if self.steps else None

    def take(self) -> Step | None:
        """The caller's next step, taken."""
        self._skip_waits()
        return self.steps.popleft() if self.steps else None

    def note(self, who: str, text: str) -> None:
        """Add a line to the call's transcript."""
        self.events.append(Event(round(self.clock, 3), who, text))

    def _hangs_up_now(self) -> bool:
        """The caller hangs up during this caller-facing command."""
        step = self.peek()
        if isinstance(step, Hangup) and step.when == "during":
            self.take()
            self.dead = True
            self.note("caller", "hangs up")
            return True
        return False

    def after_reply(self) -> str:
        """Unsolicited text Asterisk sends after a reply (a ``HANGUP`` between commands)."""
        step = self.peek()
        if not self.dead and isinstance(step, Hangup) and step.when == "between":
            self.take()
            self.dead = True
            self.hangup_sent = True
            self.note("caller", "hangs up between commands")
            return "HANGUP\n"
        return ""

    def _next_keys(self, *, barge: bool) -> str:
        """Keys the caller types now: typed-ahead ones first, then a press step."""
        if self.typed_ahead:
            keys, self.typed_ahead = self.typed_ahead, ""
            return keys
        step = self.peek()
        if isinstance(step, Press) and (step.barge or not barge):
            self.take()
            self.note("caller", f"presses {step.digits}" + (" during the prompt" if barge else ""))
            return step.digits
        return ""

    # -- commands --------------------------------------------------------

    def handle(self, line: str) -> Reply:
        """Answer one command line (without reading or writing any socket)."""
        self.commands += 1
        words = split_command(line)
        if not self.dead and self.commands == self.hangup_before_command:
            self.dead = True
            self.note("caller", "hangs up")
        if self.dead:
            self.commands_after_hangup += 1
            if not self.hangup_sent:
                self.hangup_sent = True
                return Reply("HANGUP\n" + DEAD_CHANNEL)
            return Reply(DEAD_CHANNEL)
        step = self.peek()
        if isinstance(step, Hangup) and step.when == "eof":
            self.take()
            self.dead = True
            self.note("caller", "connection drops mid-command")
            return Reply(close=True)
        if not words:
            return Reply(INVALID)
        upper = [w.upper() for w in words]
        handlers = [
            (("ANSWER",), self._answer),
            (("STREAM", "FILE"), self._stream_file),
            (("GET", "DATA"), self._get_data),
            (("WAIT", "FOR", "DIGIT"), self._wait_for_digit),
            (("SAY", "DIGITS"), self._say),
            (("SAY", "NUMBER"), self._say),
            (("SAY", "ALPHA"), self._say),
            (("SET", "VARIABLE"), self._set_variable),
            (("GET", "FULL", "VARIABLE"), self._get_full_variable),
            (("GET", "VARIABLE"), self._get_variable),
            (("CHANNEL", "STATUS"), self._channel_status),
            (("EXEC",), self._exec),
            (("RECORD", "FILE"), self._record_file),
            (("VERBOSE",), self._verbose),
            (("HANGUP",), self._hangup),
            (("NOOP",), lambda args: Reply("200 result=0\n")),
            (("GOSUB",), self._gosub),
        ]
        for prefix, handler in handlers:
            if tuple(upper[: len(prefix)]) == prefix:
                return handler(words[len(prefix):])
        return Reply(INVALID)

    def _answer(self, args: list[str]) -> Reply:
        self.answered = True
        return Reply("200 result=0\n")

    def _play(self, path: str) -> float | None:
        length = self.prompt_length(path)
        name = os.path.basename(path)
        if length is None:
            self.note("note", f"prompt {name} missing")
            return None
        self.prompts.append(name)
        self.note("note", f"plays {name} ({length:.1f} s)")
        return length

    def _stream_file(self, args: list[str]) -> Reply:
        if len(args) < 2:
            return Reply(_usage("stream file"))
        path, escape = args[0], args[1]
        length = self._play(path)
        if length is None:
            return Reply("200 result=-1 endpos=0\n")
        samples = int(length * 8000)
        if self._hangs_up_now():
            self.clock += length / 2
            return Reply(f"200 result=-1 endpos={samples // 2}\n")
        step = self.peek()
        if isinstance(step, Press) and step.barge and step.digits[0] in escape:
            self.take()
            key, rest = step.digits[0], step.digits[1:]
            self.typed_ahead += rest
            self.note("caller", f"presses {key} during the prompt")
            self.clock += length / 2
            return Reply(f"200 result={ord(key)} endpos={samples // 2}\n")
        self.clock += length
        return Reply(f"200 result=0 endpos={samples}\n")

    def _get_data(self, args: list[str]) -> Reply:
        if len(args) < 1:
            return Reply(_usage("get data"))
        path = args[0]
        timeout_ms = int(args[1]) if len(args) > 1 and args[1].lstrip("-").isdigit() else 6000
        if timeout_ms <= 0:
            timeout_ms = 6000
        max_digits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        length = self._play(path)
        if length is None:
            return Reply("200 result=-1\n")
        if self._hangs_up_now():
            return Reply("200 result=-1\n")
        keys = self._next_keys(barge=True)
        self.clock += length
        if not keys:
            keys = self._next_keys(barge=False)
        if not keys:
            step = self.peek()
            if isinstance(step, (Silence, Say)):
                self.take()
                self.note("caller", "says nothing on the keypad" if isinstance(step, Silence)
                          else "speaks, but GET DATA only hears keys")
            self.clock += timeout_ms / 1000
            return Reply("200 result= (timeout)\n")
        collected = ""
        for i, key in enumerate(keys):
            if key == "#":
                self.typed_ahead += keys[i + 1:]
                return Reply(f"200 result={collected}\n")
            collected += key
            if len(collected) >= max_digits:
                self.typed_ahead += keys[i + 1:]
                return Reply(f"200 result={collected}\n")
        self.clock += timeout_ms / 1000
        return Reply(f"200 result={collected} (timeout)\n")

    def _wait_for_digit(self, args: list[str]) -> Reply:
        if len(args) < 1 or not args[0].lstrip("-").isdigit():
            return Reply(_usage("wait for digit"))
        timeout_ms = int(args[0])
        if self._hangs_up_now():
            return Reply("200 result=-1\n")
        keys = self._next_keys(barge=False)
        if keys:
            self.typed_ahead += keys[1:]
            return Reply(f"200 result={ord(keys[0])}\n")
        step = self.peek()
        if isinstance(step, (Silence, Say)):
            self.take()
            self.note("caller", "says nothing on the keypad")
        elif step is None and timeout_ms < 0:
            # Waiting forever for a caller who has nothing left to do: hang up.
            self.dead = True
            self.note("caller", "gives up and hangs up")
            return Reply("200 result=-1\n")
        self.clock += max(timeout_ms, 0) / 1000
        return Reply("200 result=0\n")

    def _say(self, args: list[str]) -> Reply:
        if len(args) < 2:
            return Reply(_usage("say digits"))
        self.note("note", f"says {args[0]}")
        if self._hangs_up_now():
            return Reply("200 result=-1\n")
        self.clock += 0.6 * len(args[0])
        return Reply("200 result=0\n")

    def _set_variable(self, args: list[str]) -> Reply:
        if len(args) < 2:
            return Reply(_usage("set variable"))
        self.variables[args[0]] = args[1]
        return Reply("200 result=1\n")

    def _builtin(self, name: str) -> str | None:
        builtins = {"CHANNEL": self.channel, "UNIQUEID": self.uniqueid}
        return self.variables.get(name, builtins.get(name))

    def _get_variable(self, args: list[str]) -> Reply:
        if len(args) != 1:
            return Reply(_usage("get variable"))
        value = self._builtin(args[0])
        return Reply("200 result=0\n" if value is None else f"200 result=1 ({value})\n")

    def _get_full_variable(self, args: list[str]) -> Reply:
        if len(args) < 1:
            return Reply(_usage("get full variable"))
        import re

        expanded = re.sub(r"\$\{([^}]+)\}", lambda m: self._builtin(m.group(1)) or "", args[0])
        return Reply(f"200 result=1 ({expanded})\n")

    def _channel_status(self, args: list[str]) -> Reply:
        return Reply(f"200 result={6 if self.answered else 4}\n")

    def _exec(self, args: list[str]) -> Reply:
        if len(args) < 1:
            return Reply(_usage("exec"))
        app = args[0]
        data = args[1] if len(args) > 1 else ""
        self.note("note", f"runs {app}({data})")
        if app.lower() not in KNOWN_APPS:
            return Reply("200 result=-2\n")
        if app.lower() == "audiosocket":
            if self.audiosocket is not None:
                return self.audiosocket(self, data)
            return Reply("200 result=-1\n")
        if app.lower() == "playback":
            length = self._play(data.split(",")[0])
            if length is None:
                return Reply("200 result=0\n")  # Playback warns but does not fail the channel
            self.clock += length
        if self._hangs_up_now():
            return Reply("200 result=-1\n")
        return Reply("200 result=0\n")

    def _record_file(self, args: list[str]) -> Reply:
        if len(args) < 4:
            return Reply(_usage("record file"))
        path, fmt = args[0], args[1]
        timeout_ms = int(args[3]) if args[3].lstrip("-").isdigit() else 10000
        folder = os.path.dirname(path) or "."
        if not os.path.isabs(path) or not os.path.isdir(folder):
            return Reply("200 result=-1 (writefile)\n")
        if self._hangs_up_now():
            return Reply("200 result=-1 endpos=0\n")
        step = self.peek()
        pcm = b""
        if isinstance(step, Say):
            self.take()
            from .voice import caller_audio

            pcm = caller_audio(step)
            self.note("caller", f"says {step.text or step.audio!r} (recorded)")
        elif isinstance(step, Silence):
            self.take()
        from ..audio.wav import write_wav

        seconds = timeout_ms / 1000
        pcm = pcm[: int(seconds * 16000)]
        pcm += b"\0" * (int(seconds * 16000) - len(pcm))
        if fmt.lower() == "wav":
            write_wav(path + ".wav", pcm)
        self.clock += seconds
        return Reply(f"200 result=0 (timeout) endpos={len(pcm) // 2}\n")

    def _verbose(self, args: list[str]) -> Reply:
        if len(args) < 1:
            return Reply(_usage("verbose"))
        self.verbose.append(args[0])
        self.note("note", f"log: {args[0]}")
        return Reply("200 result=1\n")

    def _hangup(self, args: list[str]) -> Reply:
        self.dead = True
        self.hung_up_by_ivr = True
        self.note("note", "IVR hangs up the channel")
        return Reply("200 result=1\n")

    def _gosub(self, args: list[str]) -> Reply:
        if len(args) < 3:
            return Reply(_usage("gosub"))
        return Reply("100 result=0 Trying...\n200 result=0 Gosub complete\n")
