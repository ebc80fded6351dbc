"""Which prompt files the real Asterisk 22 plays: the table the checker and the simulator follow.

The test profile's extension 3498 plays one fixed file in Asterisk's spool folder and writes
Playback's verdict into a global variable; a Local channel originated over AMI runs it, so no
phone and no IVR are needed (and the checker, which refuses most of these files, is not in the way).
"""

from __future__ import annotations

import re

import pytest

from ivr.audio.wav import HEADER_BYTES, playable_problem
from ivr.waiting import until
from tests.e2e.ami_watch import AmiWatch
from tests.wav_cases import CASES, WavCase


async def _asterisk_plays(lab, content: bytes) -> bool:
    (lab.asterisk.state_dir / "spool" / "lab-probe.wav").write_bytes(content)
    lab.asterisk.cli("dialplan set global LAB_PROBE waiting")

    def verdict() -> str:
        shown = re.search(r"LAB_PROBE=(\w+)", lab.asterisk.cli("dialplan show globals").stdout)
        return shown.group(1) if shown and shown.group(1) != "waiting" else ""

    async with AmiWatch(lab.ami_port, lab.secrets.ami_user, lab.secrets.ami_secret) as ami:
        # The other half of the Local channel waits long enough for a slow machine: if it hung up first, the
        # extension would stop before writing the status (3498 hangs up both halves once it has written it).
        reply = await ami.action({"Action": "Originate", "Channel": "Local/3498@from-phones",
                                  "Application": "Wait", "Data": "30", "Async": "true"})
        assert "Success" in str(reply), reply
        status = await until(verdict, "extension 3498 to write Playback's status", interval=0.2)
    assert status in ("SUCCESS", "FAILED"), status
    return status == "SUCCESS"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_asterisk_plays_the_wav_files_the_checker_and_the_simulator_expect_it_to(lab, case: WavCase):
    plays = await _asterisk_plays(lab, case.content)
    assert plays == case.asterisk_plays
    assert (playable_problem(case.content[:HEADER_BYTES]) is None) == plays
