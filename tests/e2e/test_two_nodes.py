"""Two IVR nodes behind the real Asterisk, one real PostgreSQL store, and ``kill -9`` of a node under load.

Checked from the outside: every SIP call placed is answered and ends either with the IVR's record
(in the shared store) or in the contractor queue through the dialplan's safety net (AMI
QueueCallerJoin, matched by the SIP Call-ID the dialplan passes on), where the node alive records
it (``error_routed``, ``node_lost``): one record per call either way; new calls go to the surviving
node; a callback booked on the dead node is dialled once, by the other; no record of a finished call
is lost (every record in each node's file is in the shared store once the killed node is back).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from datetime import datetime

import asyncpg
import pytest

from ivr.edges.ami.protocol import channel_variables
from ivr.lab.asterisk import LOG_LINE
from ivr.lab.lab import Lab, LabOptions
from ivr.sim.scenario import Scenario
from ivr.sim.sip import SipCaller
from ivr.waiting import until
from tests.clocks import OPEN
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip
from tests.e2e.calls import agent_ends_calls, callback_booking, long_calls
from tests.pg import PostgresServer, postgres_bin

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="no PostgreSQL server binaries (apt-get install "
                                                                 "postgresql; scripts/setup does it)")

CALLBACK_NUMBER = "0633000007"


async def _call_later(caller: SipCaller, scenario: Scenario, delay: float):
    await asyncio.sleep(delay)
    return await caller.call(scenario)


def _refused(lab: Lab, port: int, since: float) -> list[dict]:
    """Asterisk's refused FastAGI connections to ``port`` after ``since`` (epoch s): seconds after it, and
    how long the call took to reach the next node (the channel's next AGI line)."""
    waiting: dict[str, tuple[float, dict]] = {}  # channel -> (when refused, its entry): until its next AGI
    out = []
    for line in lab.asterisk.log_lines(0, levels=("WARNING", "VERBOSE")):
        m = LOG_LINE.match(line)
        at = datetime.fromisoformat(m.group("when")).timestamp()
        channel, text = m.group("call"), m.group("text")
        if f":{port}' failed" in text and "Connection refused" in text and at >= since:
            out.append({"after_kill_s": round(at - since, 2), "channel": channel})
            waiting[channel] = (at, out[-1])
        elif channel in waiting and "AGI(" in text:
            refused_at, entry = waiting.pop(channel)
            entry["next_node_ms"] = round((at - refused_at) * 1000)
    return out


async def _live(lab: Lab, node: int) -> int:
    """Calls in progress on a node, as its admin API says."""
    return int((await asyncio.to_thread(lab.admin_get, "/calls", node=node))["active"])


async def test_kill_minus_nine_of_one_node_under_load_loses_no_call_and_no_callback(asterisk_binary, phone_port,
                                                                                    tmp_path, report):
    pg = PostgresServer()
    pg.start()
    url = pg.new_database()
    options = LabOptions(ivr_clock=datetime.fromisoformat(OPEN), nodes=2, store=url,
                         trunk_host=f"127.0.0.1:{phone_port}", rtp_ports=600)
    phone = Baresip(tmp_path / "phone", user=CALLBACK_NUMBER, registrar=f"127.0.0.1:{phone_port}",
                    sip_port=phone_port, auto_answer=True)
    agent = None
    try:
        with Lab(options) as lab:
            agent = Baresip(tmp_path / "agent", user="agent2", password=lab.secrets.agent("agent2"),
                            registrar=f"127.0.0.1:{lab.sip_port}", register=True, auto_answer=True)
            caller = SipCaller(f"127.0.0.1:{lab.sip_port}", "tester", lab.secrets.tester, local_ip="127.0.0.1",
                               quiet_after_prompt=1.5, max_prompt_wait=12, stay_in_queue=2)
            async with AmiWatch(lab.ami_port, lab.secrets.ami_watch_user, lab.secrets.ami_watch_secret) as ami:
                # 1. Node 2 down: calls fail over to node 1. One caller facing a long wait books a callback there.
                await asyncio.to_thread(lab.ivr2.stop)
                assert await asyncio.to_thread(lab.wait_expected_wait, "contractor", lambda w: w > 300)
                booking = callback_booking(CALLBACK_NUMBER)
                while_down = await asyncio.gather(caller.call(booking), *(caller.call(sc) for sc in long_calls(4, 100)))
                assert all(r.answered for r in while_down)
                await asyncio.to_thread(lab.ivr2.start)

                # 2. Load on both nodes, then node 1 is killed while it has calls in progress.
                first = [asyncio.create_task(caller.call(sc)) for sc in long_calls(24, 200)]

                async def both_busy() -> bool:
                    return await _live(lab, 1) >= 3 and await _live(lab, 2) >= 3

                await until(both_busy, "three calls in progress on each node", interval=0.3)
                killed_at, killed_wall = time.monotonic(), time.time()
                await asyncio.to_thread(lab.ivr.kill)
                # 3. New calls after the kill, one a second (each meets the dialplan's choice of node anew).
                after = [asyncio.create_task(_call_later(caller, sc, i)) for i, sc in enumerate(long_calls(12, 300))]
                # 4. An agent logs in: a free agent, and the surviving node (now the dialler) calls back.
                phone.start()
                agent.start()
                talking = asyncio.create_task(agent_ends_calls(ami, agent, after=3.0))
                dialled_at, _ = await ami.wait_for("OriginateResponse", Channel=f"Local/{CALLBACK_NUMBER}@*",
                                                Response="Success")
                first_results = await asyncio.gather(*first)
                after_results = await asyncio.gather(*after)
                placed = while_down + first_results + after_results
                # 5. Node 1 comes back: what its crash left unsent goes to the shared store, where each call
                # ends up with its one record (the safety net's calls too, written by the node alive).
                await asyncio.to_thread(lab.ivr.start)
                db = await asyncpg.connect(url)
                try:
                    files = [lab.dir / "calls.jsonl", lab.dir / "calls-2.jsonl"]
                    written = {json.loads(line)["call_id"] for f in files if f.exists()
                               for line in f.read_text().splitlines() if line.strip()}
                    stored: dict[str, dict] = {}

                    async def all_in_store() -> bool:
                        stored.clear()
                        stored.update({r["call_id"]: dict(json.loads(r["record"]), node=r["node"])
                                       for r in await db.fetch("SELECT call_id, node, record FROM call_records")})
                        sip_ids = {r.get("sip_call_id") for r in stored.values()}
                        return written <= set(stored) and {r.call_id for r in placed} <= sip_ids

                    await until(all_in_store, "every record in the shared store, one per call placed", interval=0.5,
                                seen=lambda: (len(written - set(stored)), len(stored)))
                    callbacks = await db.fetch("SELECT booked_by, claimed_by, state, attempts FROM callbacks")
                finally:
                    await db.close()
                talking.cancel()
                originates = ami.events("OriginateResponse", Channel=f"Local/{CALLBACK_NUMBER}@*")
                joins = {channel_variables(e).get("IVR_SIP_CALL_ID"): e for _, e in ami.events("QueueCallerJoin")}

            refused = _refused(lab, lab.agi_port, killed_wall)
            errors = lab.asterisk.log_lines(0)
    finally:
        for p in (phone, agent):
            if p is not None:
                p.stop()
        pg.cleanup()

    by_sip: dict[str, list[dict]] = {}
    for r in stored.values():
        by_sip.setdefault(r.get("sip_call_id", ""), []).append(r)

    def fate(result) -> str:
        """``record:<node>`` (the IVR finished it), ``safety net:<node>`` (in the contractor queue after
        its node died, recorded by a node alive), ``lost``, or ``2 records`` (one call, one outcome)."""
        records = by_sip.get(result.call_id, [])
        if len(records) > 1:
            return f"{len(records)} records"
        if not records:
            return "lost"
        [record] = records
        if record["reason"] != "node_lost":
            return f"record:{record['node']}"
        join = joins.get(result.call_id)
        if join is not None and join.get("Queue") == "contractor" == record["queue"]:
            return f"safety net:{record['node']}"
        return "lost"

    fates = [fate(r) for r in placed]
    lost = [r.call_id for r, f in zip(placed, fates, strict=True) if f == "lost"]
    safety = [f for f in fates if f.startswith("safety net")]
    report(test="two nodes", placed=len(placed), answered=sum(r.answered for r in placed),
           finished_in_ivr=sum(f.startswith("record") for f in fates), safety_net=len(safety), lost=len(lost),
           while_node2_down=[fate(r) for r in while_down], after_kill=[fate(r) for r in after_results],
           callback_originates=len(originates), refused_by_dead_node=refused,
           callback_dialled_s_after_kill=round(dialled_at - killed_at, 1),
           records_in_files=len(written), records_in_store=len(set(written) & set(stored)),
           killed_at=datetime.fromtimestamp(killed_wall).isoformat(timespec="seconds"))

    assert all(r.answered for r in placed), [r.error for r in placed if not r.answered]
    assert errors == []  # a dead node is a WARNING for Asterisk (connection refused), nothing worse
    assert lost == [] and all(f.startswith(("record:", "safety net:")) for f in fates), fates
    # Node 2 down: every call (and the callback booking) was taken by node 1.
    assert {fate(r) for r in while_down} == {"record:ivr-1"}
    # Calls in flight on node 1 when it died reached the contractor queue through the safety net.
    assert safety and all(f == "safety net:ivr-1" for f in safety), fates
    # After the kill, every new call went to node 2.
    assert {fate(r) for r in after_results} <= {"record:ivr-2"}, [fate(r) for r in after_results]
    # Asterisk stopped offering calls to the dead node: after a refusal (the call went on to node 2, as its
    # record shows), the node is tried last for IVR_NODE_HOLD_OFF (30 s): never two refusals closer than that.
    assert all(b["after_kill_s"] - a["after_kill_s"] >= 29 for a, b in itertools.pairwise(refused)), refused
    # The callback booked on node 1 was dialled once, by node 2, and reached the caller.
    assert len(originates) == 1
    assert [(c["booked_by"], c["claimed_by"], c["state"], c["attempts"]) for c in callbacks] == [
        ("ivr-1", "ivr-2", "done", 1)]
    # No record of a finished call is lost: every one in the nodes' files is in the shared store.
    assert written <= set(stored)
