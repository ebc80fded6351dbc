"""A closure notice switched on in the console is heard by a real caller through the real Asterisk,
after the welcome, and no longer once switched off."""

from __future__ import annotations

import aiohttp

from tests.e2e.baresip import Baresip
from tests.e2e.calls import keypad_self_served

TEXT = "Suite à un incident technique, le suivi des dossiers est indisponible jusqu'à midi."


async def _post(lab, path: str, fields: dict) -> dict:
    headers = {"Authorization": f"Bearer {lab.secrets.admin_token}"}
    async with aiohttp.ClientSession(headers=headers) as http, http.post(lab.admin_url + path, json=fields) as resp:
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()


def _played_after_welcome(lab, sip_call_id: str) -> tuple[str, str]:
    """The IVR's command after the welcome's second prompt, and Asterisk's reply to it."""
    session = next(s for s in list(lab.tap.tap.sessions) if s and f"sip_call_id={sip_call_id}" in s[0]["data"])
    turns = [(e["dir"], e["data"]) for e in session]
    i = next(k for k, (d, data) in enumerate(turns) if d == "ivr->asterisk" and "protection_donnees" in data)
    command = next(data for d, data in turns[i + 1:] if d == "ivr->asterisk")
    reply = next(data for d, data in turns[turns.index(("ivr->asterisk", command)) + 1:] if d == "asterisk->ivr")
    return command, reply


async def test_a_notice_switched_on_in_the_console_is_heard_on_a_real_call(lab, tmp_path):
    notice = await _post(lab, "/notices", {"text": TEXT, "by": "e2e"})
    phone = Baresip(tmp_path / "phone", user="phone1", password=lab.secrets.phone1, registrar=f"127.0.0.1:{lab.sip_port}")
    try:
        record = lab.record(keypad_self_served(phone, f"sip:3400@127.0.0.1:{lab.sip_port}"))
    finally:
        phone.stop()
        await _post(lab, f"/notices/{notice['id']}/end", {"by": "e2e"})
    assert record["outcome"] == "self_served" and "annonce" in record["path"]
    command, reply = _played_after_welcome(lab, record["sip_call_id"])
    # The notice, rendered by the IVR, streamed by Asterisk: it answered with where it stopped (> 0).
    assert command.startswith("STREAM FILE ") and "/dyn-" in command, command
    assert reply.startswith("200 result=") and int(reply.split("endpos=")[1]) > 0, reply

    again = Baresip(tmp_path / "again", user="phone1", password=lab.secrets.phone1, registrar=f"127.0.0.1:{lab.sip_port}")
    try:
        quiet = lab.record(keypad_self_served(again, f"sip:3400@127.0.0.1:{lab.sip_port}"))
    finally:
        again.stop()
    command, _ = _played_after_welcome(lab, quiet["sip_call_id"])
    assert "/dyn-" not in command and "menu_titre" in command
