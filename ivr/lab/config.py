"""The product's Asterisk configuration, made ready for one host.

Two steps, as an operator does them without docker:

1. :func:`fill_placeholders` runs ``asterisk/entrypoint.sh`` itself (the container's
   entrypoint) with the secrets in its environment, so placeholders are filled exactly
   as in the container;
2. :func:`adapt_for_host` changes only :data:`HOST_OPTIONS`: where Asterisk binds
   (SIP, AMI, RTP ports), its ``[directories]``, and where the IVR listens (dialplan
   globals). Everything else stays the product's.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .bundle import REPO_DIR

__all__ = ["ETC_DIR", "ENTRYPOINT", "HOST_OPTIONS", "HostSettings", "fill_placeholders", "adapt_for_host",
           "set_option", "read_sections"]

ETC_DIR = REPO_DIR / "asterisk" / "etc"
ENTRYPOINT = REPO_DIR / "asterisk" / "entrypoint.sh"

#: (file, section, option) an operator changes for a host; nothing else is touched.
HOST_OPTIONS = frozenset({
    ("pjsip.conf", "transport-udp", "bind"),
    ("pjsip.conf", "transport-udp", "external_media_address"),
    ("pjsip.conf", "transport-udp", "external_signaling_address"),
    ("manager.conf", "general", "port"),
    ("manager.conf", "general", "bindaddr"),
    ("rtp.conf", "general", "rtpstart"),
    ("rtp.conf", "general", "rtpend"),
    ("extensions.conf", "globals", "IVR_HOST"),
    ("extensions.conf", "globals", "IVR_AGI_PORT"),
    ("extensions.conf", "globals", "IVR_HOST_2"),
    ("extensions.conf", "globals", "IVR_AGI_PORT_2"),
    *(("asterisk.conf", "directories", d) for d in (
        "astetcdir", "astmoddir", "astvarlibdir", "astdbdir", "astkeydir", "astdatadir", "astagidir",
        "astspooldir", "astrundir", "astlogdir")),
})

_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_OPTION = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*=>?\s*)([^;]*?)(\s*)(;.*)?$")


@dataclass(frozen=True)
class HostSettings:
    """What differs from one Asterisk host to another."""

    asterisk_root: Path  # the installation: lib/asterisk/modules and share/ (documentation)
    state_dir: Path  # where this Asterisk keeps its state, logs and control socket
    bind: str = "127.0.0.1"
    sip_port: int = 5060
    ami_port: int = 5038
    rtp_start: int = 10000
    rtp_end: int = 10100
    ivr_host: str = "127.0.0.1"
    ivr_agi_port: int = 4573
    #: A second IVR node ("" for one node).
    ivr_host_2: str = ""
    ivr_agi_port_2: int = 4573


def fill_placeholders(dest: Path, env: dict[str, str], src: Path = ETC_DIR) -> None:
    """Copy ``src`` to ``dest`` with every ``@@NAME@@`` filled from ``env``, by the container's entrypoint."""
    if not (src.is_dir() and ENTRYPOINT.is_file()):
        raise ValueError(f"the lab runs from a source checkout: no {src} or {ENTRYPOINT}")
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "true"], capture_output=True, text=True, timeout=30,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env, "IVR_ETC_SRC": str(src),
             "IVR_ETC_DST": str(dest)})
    if done.returncode != 0:
        raise ValueError(f"asterisk/entrypoint.sh refused the configuration: {done.stderr.strip()}")


def read_sections(text: str) -> dict[tuple[str, str], list[str]]:
    """``(section, option) -> values`` of an Asterisk .conf text (options may repeat)."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for line in text.splitlines():
        m = _SECTION.match(line)
        if m:
            section = m.group(1)
            continue
        m = _OPTION.match(line)
        if m and section:
            out.setdefault((section, m.group(2)), []).append(m.group(4))
    return out


def set_option(text: str, section: str, option: str, value: str) -> str:
    """Set ``option`` in ``[section]`` (keeping its line's comment); add the section or option if missing."""
    lines = text.splitlines()
    current = ""
    section_at: int | None = None
    for i, line in enumerate(lines):
        m = _SECTION.match(line)
        if m:
            current = m.group(1)
            if current == section:
                section_at = i
            continue
        m = _OPTION.match(line)
        if current == section and m and m.group(2) == option:
            indent, name, sep, _, space, comment = m.groups()
            lines[i] = f"{indent}{name}{sep}{value}{space or (' ' if comment else '')}{comment or ''}"
            return "\n".join(lines) + "\n"
    if section_at is None:
        lines += ["", f"[{section}]", f"{option} = {value}"]
    else:
        end = next((i for i in range(section_at + 1, len(lines)) if _SECTION.match(lines[i])), len(lines))
        while end > section_at + 1 and not lines[end - 1].strip():
            end -= 1
        lines.insert(end, f"{option} = {value}")
    return "\n".join(lines) + "\n"


def _data_dir(host: HostSettings) -> Path:
    """Asterisk's data folder for the lab: the installation's (its documentation) with the line's own
    sounds (asterisk/sounds: the queues' announcements in French), as the image installs them."""
    from ..config import ASTERISK_SOUNDS_DIR

    data = host.state_dir / "share"
    data.mkdir(parents=True, exist_ok=True)
    for name, target in (("documentation", host.asterisk_root / "share" / "documentation"),
                         ("sounds", ASTERISK_SOUNDS_DIR)):
        link = data / name
        if target.exists() and not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    return data


def adapt_for_host(etc: Path, host: HostSettings) -> None:
    """Apply ``host`` to a filled configuration folder: only :data:`HOST_OPTIONS` change."""
    state = host.state_dir
    directories = {
        "astetcdir": etc, "astmoddir": host.asterisk_root / "lib" / "asterisk" / "modules",
        "astvarlibdir": state / "lib", "astdbdir": state / "db", "astkeydir": state / "keys",
        "astdatadir": _data_dir(host), "astagidir": state / "agi-bin",
        "astspooldir": state / "spool", "astrundir": state / "run", "astlogdir": state / "log",
    }
    for name, path in directories.items():
        if name not in ("astetcdir", "astmoddir", "astdatadir"):
            Path(path).mkdir(parents=True, exist_ok=True)
    values = {
        ("asterisk.conf", "directories", k): str(v) for k, v in directories.items()
    } | {
        ("pjsip.conf", "transport-udp", "bind"): f"{host.bind}:{host.sip_port}",
        ("pjsip.conf", "transport-udp", "external_media_address"): host.bind,
        ("pjsip.conf", "transport-udp", "external_signaling_address"): host.bind,
        ("manager.conf", "general", "port"): str(host.ami_port),
        ("manager.conf", "general", "bindaddr"): host.bind,
        ("rtp.conf", "general", "rtpstart"): str(host.rtp_start),
        ("rtp.conf", "general", "rtpend"): str(host.rtp_end),
        ("extensions.conf", "globals", "IVR_HOST"): host.ivr_host,
        ("extensions.conf", "globals", "IVR_AGI_PORT"): str(host.ivr_agi_port),
        ("extensions.conf", "globals", "IVR_HOST_2"): host.ivr_host_2,
        ("extensions.conf", "globals", "IVR_AGI_PORT_2"): str(host.ivr_agi_port_2),
    }
    assert set(values) == HOST_OPTIONS
    by_file: dict[str, list[tuple[str, str, str]]] = {}
    for (file, section, option), value in values.items():
        by_file.setdefault(file, []).append((section, option, value))
    for file, changes in by_file.items():
        path = etc / file
        text = path.read_text(encoding="utf-8")
        for section, option, value in changes:
            text = set_option(text, section, option, value)
        path.write_text(text, encoding="utf-8")
