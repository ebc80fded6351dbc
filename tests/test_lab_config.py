"""The lab's host adaptation of asterisk/etc (what `ivr lab` and the e2e suite run), without Asterisk."""

from __future__ import annotations

from pathlib import Path

from ivr.lab.config import (
    ETC_DIR,
    HOST_OPTIONS,
    HostSettings,
    adapt_for_host,
    fill_placeholders,
    read_sections,
    set_option,
)
from tests.test_deployment import SECRETS


def test_set_option_keeps_comments_and_adds_what_is_missing_in_its_section():
    text = "[general]\nport = 5038 ; the AMI port\n\n[other]\nport = 1\n"
    out = set_option(text, "general", "port", "15038")
    assert "port = 15038 ; the AMI port" in out and "[other]\nport = 1" in out
    out = set_option(out, "general", "bindaddr", "127.0.0.1")
    assert read_sections(out)[("general", "bindaddr")] == ["127.0.0.1"]
    assert read_sections(out)[("other", "port")] == ["1"]
    out = set_option(out, "directories", "astlogdir", "/tmp/log")
    assert read_sections(out)[("directories", "astlogdir")] == ["/tmp/log"]


def test_a_host_changes_only_the_host_options(tmp_path):
    filled, adapted = tmp_path / "filled", tmp_path / "adapted"
    fill_placeholders(filled, SECRETS)
    fill_placeholders(adapted, SECRETS)
    adapt_for_host(adapted, HostSettings(asterisk_root=Path("/opt/asterisk"), state_dir=tmp_path / "state",
                                         bind="192.0.2.10", sip_port=15060, ami_port=15038,
                                         rtp_start=20000, rtp_end=20400, ivr_agi_port=14573,
                                         ivr_host_2="192.0.2.11", ivr_agi_port_2=14574))
    changed = set()
    for conf in ETC_DIR.glob("*.conf"):
        before, after = read_sections((filled / conf.name).read_text()), read_sections((adapted / conf.name).read_text())
        changed |= {(conf.name, *key) for key in set(before) | set(after) if before.get(key) != after.get(key)}
    assert changed == HOST_OPTIONS
    globals_ = read_sections((adapted / "extensions.conf").read_text())
    assert globals_[("globals", "IVR_AGI_PORT")] == ["14573"] and globals_[("globals", "IVR_HOST_2")] == ["192.0.2.11"]
    assert (tmp_path / "state" / "log").is_dir()


async def test_the_agi_relay_keeps_whole_messages_and_times_turns():
    import asyncio

    from ivr.lab.agi_tap import AgiTap

    async def ivr_side(reader, writer):
        await reader.readuntil(b"\n\n")
        writer.write(b"ANSWER\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    ivr = await asyncio.start_server(ivr_side, "127.0.0.1", 0)
    tap = AgiTap("127.0.0.1", ivr.sockets[0].getsockname()[1], keep_sessions=2)
    await tap.start()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", tap.port)
        for piece in (b"agi_network: yes\nagi_chan", b"nel: PJSIP/x\n", b"\n"):  # TCP may cut anywhere
            w.write(piece)
            await w.drain()
            await asyncio.sleep(0.05)
        assert await r.readline() == b"ANSWER\n"
        w.write(b"200 result=0\n")
        await w.drain()
        await r.read()  # the IVR closed: the tap relayed (and kept) everything before that
        w.close()
    finally:
        await tap.stop()
        ivr.close()
    [session] = tap.sessions
    assert [e["dir"] for e in session] == ["asterisk->ivr", "ivr->asterisk", "asterisk->ivr"]
    assert session[0]["data"] == "agi_network: yes\nagi_channel: PJSIP/x\n\n"
    assert len(tap.turns) == 1 and tap.turns[0] >= 0  # one IVR turn: the environment block → ANSWER
