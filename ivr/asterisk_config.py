"""What the Asterisk configuration in ``asterisk/etc`` tells the checker, read as Asterisk reads it.

An administrator's edit of a flow or a rule is proven against the line Asterisk will run: the flow
names the dialplan asks the IVR for (a renamed flow would leave every call without its menu), the
channel variables it passes on to the agent's channel (a context value the dialplan does not forward
never reaches the agent's screen), and the queues ``queues.conf`` defines (a queue Asterisk lacks
hangs the caller up after « mise en relation »).

The readers are sans-IO (text in, facts out); :func:`load_asterisk_config` only reads the files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from typing_extensions import override

__all__ = ["Where", "AsteriskConfig", "read_dialplan", "read_queues", "load_asterisk_config", "DEFAULT_ASTERISK_ETC",
           "shipped_asterisk_etc"]

#: The configuration shipped with the line (``asterisk/etc`` beside the package, in a checkout).
DEFAULT_ASTERISK_ETC = Path(__file__).resolve().parent.parent / "asterisk" / "etc"


@dataclass(frozen=True)
class Where:
    """A place in a configuration file, for messages (``extensions.conf:53``)."""

    file: str
    line: int

    @override
    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class AsteriskConfig:
    """The facts the checker needs from Asterisk's configuration."""

    #: Flows the dialplan runs (the AGI script of ``AGI(agi://host:port/<flow>)``), with where.
    flows: dict[str, Where] = field(default_factory=dict)
    #: Channel variables the dialplan passes on to the agent's channel (``Set(__IVR_TITLE=…)``).
    forwarded: dict[str, Where] = field(default_factory=dict)
    #: Queues ``queues.conf`` defines (templates ``(!)`` and ``[general]`` are not queues).
    queues: dict[str, Where] = field(default_factory=dict)


#: ``AGI(agi://…/script,args)``: the script is the path after the host and port, up to ``,`` or ``)``.
_AGI = re.compile(r"\bAGI\(\s*agi://[^/,)]*/([^,)\s]+)", re.IGNORECASE)
#: ``Set(__NAME=…)``: a variable every channel created from this one inherits (the agent's).
_INHERITED = re.compile(r"\bSet\(\s*__([A-Za-z0-9_]+)=", re.IGNORECASE)
_SECTION = re.compile(r"^\[([^\]]+)\]\s*(\(([^)]*)\))?")


def _code(line: str) -> str:
    """A configuration line without its comment (``;`` starts one, ``\\;`` is a semicolon)."""
    out = re.split(r"(?<!\\);", line, maxsplit=1)[0]
    return out.strip()


def read_dialplan(text: str, file: str = "extensions.conf") -> AsteriskConfig:
    """The flows a dialplan runs and the variables it forwards to agents."""
    config = AsteriskConfig()
    for number, line in enumerate(text.splitlines(), start=1):
        code = _code(line)
        for script in _AGI.findall(code):
            config.flows.setdefault(script, Where(file, number))
        for name in _INHERITED.findall(code):
            config.forwarded.setdefault(name, Where(file, number))
    return config


def read_queues(text: str, file: str = "queues.conf") -> dict[str, Where]:
    """The queues a ``queues.conf`` defines."""
    queues: dict[str, Where] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        m = _SECTION.match(_code(line))
        if m is None:
            continue
        name, options = m.group(1).strip(), (m.group(3) or "")
        if name == "general" or "!" in options:
            continue
        queues.setdefault(name, Where(file, number))
    return queues


def shipped_asterisk_etc() -> Path | None:
    """The line's own ``asterisk/etc`` when the package runs from a checkout, else None."""
    return DEFAULT_ASTERISK_ETC if (DEFAULT_ASTERISK_ETC / "extensions.conf").is_file() else None


def load_asterisk_config(etc: Path = DEFAULT_ASTERISK_ETC) -> AsteriskConfig | None:
    """The configuration in ``etc`` (``extensions.conf`` and ``queues.conf``, with the files they
    include), or None when there is none there (an installed package checked without its line)."""
    dialplan, queues = etc / "extensions.conf", etc / "queues.conf"
    if not dialplan.is_file() or not queues.is_file():
        return None
    config = AsteriskConfig()
    for path in (dialplan, *_included(dialplan)):
        found = read_dialplan(path.read_text(encoding="utf-8"), str(path))
        for name, where in found.flows.items():
            config.flows.setdefault(name, where)
        for name, where in found.forwarded.items():
            config.forwarded.setdefault(name, where)
    for path in (queues, *_included(queues)):
        for name, where in read_queues(path.read_text(encoding="utf-8"), str(path)).items():
            config.queues.setdefault(name, where)
    return config


def _included(path: Path) -> list[Path]:
    """The files ``#include``/``#tryinclude`` names in ``path`` that exist (relative to its folder)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*#(?:try)?include\s+\"?([^\"\s]+)\"?", line)
        if m:
            target = path.parent / m.group(1)
            if target.is_file():
                out.append(target)
    return out
