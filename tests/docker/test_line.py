"""The 34 00 line built from our Dockerfiles and run with the repository's docker-compose.yml.

What a newcomer does (`docker compose up -d --build`, `docker compose run --rm tester`), what a caller
does (a softphone on this host dials the published SIP port), what an administrator does (edits the
mounted flows folder), checked on the real engine: images, health, real SIP between containers.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
import secrets
import subprocess
import tarfile
import time
import urllib.request

import asyncpg
import pytest

from ivr.sim.sip import SipCaller
from ivr.waiting import DEADLINE, until, wait_until
from tests.docker.conftest import SHIPPED_FLOW, ci_bundle, flows_as
from tests.docker.line import ASTERISK_SRC, BUILD_TIMEOUT, ROOT, ComposeLine, SourceServer, asterisk_build_args
from tests.e2e.ami_watch import AmiWatch
from tests.e2e.baresip import Baresip, free_sip_port, speech_share
from tests.e2e.calls import agent_ends_calls, callback_booking, keypad_self_served, long_calls

#: The caller's phone behind the trunk (callbacks dial it), on this host.
CALLBACK_NUMBER = "0633000008"
IMAGES = {"ivr": "ivr-3400:latest", "asterisk": "ivr-3400-asterisk:22.8.2"}


def _image(name: str) -> dict:
    out = subprocess.run(["docker", "image", "inspect", name], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def _layer_files(name: str):
    """(path, sha256) of every file in every layer of an image (`docker save`)."""
    saved = subprocess.run(["docker", "save", name], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(saved)) as image:
        for member in image.getmembers():
            if not member.name.endswith("layer.tar"):
                continue
            layer = image.extractfile(member)
            with tarfile.open(fileobj=io.BytesIO(layer.read())) as files:
                for f in files.getmembers():
                    if f.isfile():
                        yield f.name, hashlib.sha256(files.extractfile(f).read()).hexdigest()


def test_our_images_run_unprivileged_hold_only_what_the_line_loads_and_no_build_ca(docker_line):
    sizes = {}
    for service, name in IMAGES.items():
        config = _image(name)
        sizes[service] = round(config["Size"] / 1e6, 1)
        user = config["Config"]["User"]
        assert user and user not in ("root", "0"), f"{name} runs as {user or 'root'}"
        assert config["Config"]["Healthcheck"]["Test"], f"{name} has no healthcheck"
    docker_line.report(step="images", size_mb=sizes)
    # Asterisk: exactly the modules modules.conf loads were built.
    wanted = set(re.findall(r"^load => (\w+\.so)", (ROOT / "asterisk/etc/modules.conf").read_text(), re.M))
    built = subprocess.run(["docker", "run", "--rm", "--entrypoint", "ls", IMAGES["asterisk"],
                            "/usr/lib/asterisk/modules"], capture_output=True, text=True, check=True).stdout.split()
    assert set(built) == wanted
    version = subprocess.run(["docker", "run", "--rm", "--entrypoint", "asterisk", IMAGES["asterisk"], "-V"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == "Asterisk 22.8.2"
    # The proxy's CA the builds used is in no layer of either image (and no secret mount left a file).
    bundle = ci_bundle()
    if bundle is None:
        pytest.skip("no build CA on this machine: nothing to look for in the layers")
    ca = hashlib.sha256(bundle.read_bytes()).hexdigest()
    for name in IMAGES.values():
        files = list(_layer_files(name))
        assert files, name
        assert [p for p, digest in files if digest == ca or p.startswith("run/secrets")] == [], name


def test_every_service_is_healthy_and_asterisk_health_means_the_line_can_take_calls(docker_line):
    line = docker_line.compose
    assert all(line.health(s) == "healthy" for s in ("tracking", "ivr", "asterisk"))
    check = ["exec", "-T", "asterisk", "/usr/local/bin/healthcheck"]
    assert line.compose(*check, check=False).returncode == 0
    # A module the line needs stops: the check says which, and is healthy again once it is back.
    line.compose("exec", "-T", "asterisk", "asterisk", "-rx", "module unload func_rand.so")
    try:
        failed = line.compose(*check, check=False)
        assert failed.returncode == 1 and "module not running: func_rand.so" in failed.stdout
    finally:
        line.compose("exec", "-T", "asterisk", "asterisk", "-rx", "module load func_rand.so")
    assert line.compose(*check, check=False).returncode == 0


def test_the_bundled_scenarios_pass_over_real_sip_between_containers(docker_line, shipped_flows):
    done = docker_line.compose.compose("run", "--rm", "tester", check=False, timeout=900)
    lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    *calls, summary = lines
    docker_line.report(step="tester", calls=summary.get("calls"), passed=summary.get("passed"),
                       outcomes=sorted({c["record"]["outcome"] for c in calls if c.get("record")}))
    assert {c["scenario"]: c["failures"] for c in calls if not c["passed"]} == {}, done.stderr[-2000:]
    bundled = len(list((ROOT / "ivr" / "sim" / "scenarios").glob("*.yaml")))  # what the tester service plays
    assert done.returncode == 0 and summary["calls"] == len(calls) == bundled and summary["failed"] == 0


def test_a_softphone_on_this_host_is_served_through_the_published_ports(docker_line, open_flows, tmp_path):
    """phone1 registers nowhere and dials this host's address: SIP to the published 5060, media through
    the published RTP range to the external address; carte grise, a file number, its status read back."""
    line = docker_line.compose
    since = len(line.logs("asterisk"))
    phone = Baresip(tmp_path / "phone", user="phone1", password=line.env["SIP_PHONE1_PASSWORD"],
                    registrar=f"{docker_line.host}:5060", listen_ip=docker_line.host)
    try:
        call_id = keypad_self_served(phone, f"sip:3400@{docker_line.host}:5060")
    finally:
        phone.stop()

    def record():
        calls = docker_line.admin_get(f"/calls/recent?limit=50&sip_call_id={call_id}")["calls"]
        return calls[-1] if calls else None

    found = wait_until(record, f"the record of SIP call {call_id}", timeout=DEADLINE)
    heard, total = speech_share(phone.heard_wav())
    asterisk_log = line.logs("asterisk")[since:]
    readbacks = re.findall(r"Playing '(/var/cache/ivr-prompts/[^']+)'", asterisk_log)
    docker_line.report(step="host softphone", outcome=found["outcome"], seconds=total, heard_s=heard,
                       readbacks_played=len(readbacks))
    assert found["outcome"] == "self_served" and found["slots"]["file_number"] == "********81"
    # The status was read back: Asterisk played a readback the IVR rendered into the shared volume.
    assert readbacks and "Unable to open" not in asterisk_log and "does not exist" not in asterisk_log
    assert total > 30 and heard / total > 0.5  # the caller heard the IVR, through the published RTP ports


def test_an_edit_to_the_mounted_flows_goes_live_and_a_broken_one_is_refused(docker_line, shipped_flows):
    shipped = SHIPPED_FLOW.read_text(encoding="utf-8")
    edited = shipped.replace('closed_dates: []', 'closed_dates: ["2099-12-24"]')
    assert edited != shipped
    before = shipped_flows["flows"][0]["version"]
    view = flows_as(docker_line, edited)
    assert view["flows"][0]["version"] != before
    # A broken edit: refused with file:line, the edited flow keeps serving.
    target = docker_line.flows / SHIPPED_FLOW.name
    target.write_text(edited.replace("  accueil:\n", "  accueil:\n    kind: [\n", 1), encoding="utf-8")
    try:
        refused = wait_until(lambda: docker_line.admin_get("/flows")["line"]["rejected"], "the broken edit to be refused",
                             timeout=DEADLINE)
        view_after = docker_line.admin_get("/flows")
        ready = docker_line.admin_get("/readyz")
    finally:
        flows_as(docker_line, shipped)  # a node started later would find nothing it may serve
    assert view_after["flows"][0]["version"] == view["flows"][0]["version"]
    assert re.search(r"ants-3400\.yaml:\d+", json.dumps(refused)), refused
    assert "rejected" in json.dumps(ready)
    docker_line.report(step="flows edit", refused=str(refused)[:300])


def test_a_tarball_that_does_not_match_its_checksum_stops_the_asterisk_build(docker_line):
    if not ASTERISK_SRC.is_dir():
        pytest.skip(f"no release sources at {ASTERISK_SRC}")
    server = SourceServer(ASTERISK_SRC)
    try:
        line = ComposeLine.create("ivr3400checksum", docker_line.compose.workdir,
                                  **{**docker_line.compose.env, **asterisk_build_args(server), "ASTERISK_SHA256": "0" * 64,
                                     "ASTERISK_IMAGE": "ivr-3400-asterisk:wrong-checksum"})
        done = line.compose("build", "asterisk", check=False, timeout=BUILD_TIMEOUT)
    finally:
        server.close()
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "asterisk.tar.gz: FAILED" in output, output[-2000:]
    assert subprocess.run(["docker", "image", "inspect", "ivr-3400-asterisk:wrong-checksum"],
                          capture_output=True).returncode != 0  # no image came of it


def _prometheus(line: ComposeLine, targets: int) -> tuple[list[dict], list[dict]]:
    """Once Prometheus scrapes ``targets`` IVR nodes (all up) and has evaluated its rules: (targets, rules)."""
    url = f"http://{line.address('prometheus')}:9090"

    def api(path: str) -> dict:
        with urllib.request.urlopen(url + path, timeout=DEADLINE) as resp:
            return json.load(resp)["data"]

    def ready():
        try:
            found = api("/api/v1/targets")["activeTargets"]
            groups = api("/api/v1/rules")["groups"]
        except OSError:
            return None
        evaluated = [g for g in groups if not g["lastEvaluation"].startswith("0001")]
        up = len(found) == targets and all(t["health"] == "up" for t in found)
        return (found, [r for g in groups for r in g["rules"]]) if up and evaluated else None

    return wait_until(ready, f"Prometheus to scrape {targets} IVR node(s) and evaluate its rules", timeout=DEADLINE * 2,
                      seen=lambda: line.logs("prometheus", tail=20))


def test_prometheus_scrapes_the_ivr_and_evaluates_every_alert_rule(docker_line):
    """The monitoring profile, Prometheus built from Debian's archive (docker/compose.debian.yml; Grafana has no
    Debian package and is not started)."""
    line = docker_line.compose
    monitoring = ComposeLine(project=line.project, workdir=line.workdir, env=line.env,
                             files=("docker-compose.yml", "docker/compose.debian.yml"), profiles=("monitoring",))
    monitoring.compose("up", "-d", "--build", "prometheus", timeout=BUILD_TIMEOUT)
    targets, rules = _prometheus(monitoring, 1)
    shipped = (ROOT / "monitoring" / "prometheus" / "alerts.yml").read_text().count("- alert:")
    docker_line.report(step="prometheus", targets=[t["labels"]["instance"] for t in targets], rules=len(rules),
                       firing=[r["name"] for r in rules if r["state"] == "firing"])
    assert {t["labels"]["job"] for t in targets} == {"ivr"} and len(rules) == shipped
    assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def _held_off(line: ComposeLine, node: int) -> bool:
    """Whether the dialplan still tries IVR node ``node`` last (it refused a call less than IVR_NODE_HOLD_OFF
    ago: the global IVR_DOWN_UNTIL_<node> is in the future on Asterisk's clock)."""
    out = line.compose("exec", "-T", "asterisk", "sh", "-c", "date +%s; asterisk -rx 'dialplan show globals'").stdout
    now, _, variables = out.partition("\n")
    until_ = re.search(rf"IVR_DOWN_UNTIL_{node}=(\d+)", variables)
    return until_ is not None and int(until_.group(1)) > int(now)


async def test_docker_kill_of_a_node_under_load_loses_no_call_and_dials_each_callback_once(docker_line, shipped_flows,
                                                                                             tmp_path):
    """The cluster profile (two IVR nodes, PostgreSQL from Debian's archive), as the bare two-node test: a
    callback is booked on node 1 while node 2 is stopped; then `docker kill` of node 1 while both nodes have
    calls in progress. Every call placed, before and after, ends with exactly one record in the shared store
    (finished by its node, or by the node alive for a call the dialplan's safety net sent to the contractor
    queue), and the callback is dialled once, by node 2, to a phone on this host behind the trunk."""
    single, host, phone_port = docker_line.compose, docker_line.host, free_sip_port()
    phone = Baresip(tmp_path / "phone", user=CALLBACK_NUMBER, registrar=f"{host}:{phone_port}",
                    sip_port=phone_port, auto_answer=True, listen_ip=host)
    agent = Baresip(tmp_path / "agent", user="agent2", password=single.env["SIP_AGENT2_PASSWORD"],
                    registrar=f"{host}:5060", register=True, auto_answer=True, listen_ip=host)
    watch = secrets.token_urlsafe(18)
    cluster = ComposeLine(project=single.project, workdir=single.workdir,
                          env={**single.env, "IVR_HOST_2": "ivr2", "IVR_STORE": "postgresql://ivr@postgres:5432/ivr",
                               "IVR_SCRAPE_TARGETS": "ivr:8080,ivr2:8080", "SIP_TRUNK_HOST": f"{host}:{phone_port}",
                               "AMI_WATCH_SECRET": watch},
                          files=("docker-compose.yml", "docker/compose.debian.yml"), profiles=("cluster", "monitoring"))
    try:
        cluster.compose("up", "-d", "--build", "tracking", "postgres", "ivr", "ivr2", "asterisk", "prometheus",
                        timeout=BUILD_TIMEOUT)
        cluster.wait_healthy(["postgres", "ivr", "ivr2", "asterisk"])
        # Prometheus scrapes both nodes (cluster.env's IVR_SCRAPE_TARGETS).
        scraped, _ = await asyncio.to_thread(_prometheus, cluster, 2)
        assert sorted(t["labels"]["instance"] for t in scraped) == ["ivr2:8080", "ivr:8080"]
        caller = SipCaller(f"{host}:5060", "tester", single.env["SIP_TESTER_PASSWORD"],
                           local_ip=host, quiet_after_prompt=1.5, max_prompt_wait=12, stay_in_queue=2)
        nodes = {name: f"http://{cluster.address(name)}:8080" for name in ("ivr", "ivr2")}

        async def live(node: str) -> int:
            return int((await asyncio.to_thread(docker_line.admin_get, "/calls", nodes[node]))["active"])

        async def long_wait() -> bool:  # nobody staffs the contractor queue: the IVR offers callbacks
            view = await asyncio.to_thread(docker_line.admin_get, "/queues", nodes["ivr"])
            return any(q["queue"] == "contractor" and q["expected_wait_s"] > 300 for q in view["queues"])

        async with AmiWatch(5038, "watcher", watch, host=cluster.address("asterisk")) as ami:
            # 1. Node 2 stopped: calls go to node 1, where a caller facing a long wait books a callback.
            await asyncio.to_thread(cluster.compose, "stop", "ivr2")
            await until(long_wait, "the IVR to expect a long wait in the contractor queue", interval=0.5)
            while_down = await asyncio.gather(caller.call(callback_booking(CALLBACK_NUMBER)),
                                              *(caller.call(sc) for sc in long_calls(4, 100)))
            assert all(r.answered for r in while_down)
            await asyncio.to_thread(cluster.compose, "start", "ivr2")
            await asyncio.to_thread(cluster.wait_healthy, ["ivr2"])
            await until(lambda: not _held_off(cluster, 2), "the dialplan to offer calls to node 2 again",
                        interval=1.0)

            # 2. Load on both nodes, then node 1 is killed while it has calls in progress.
            first = [asyncio.create_task(caller.call(sc)) for sc in long_calls(12, 200)]

            async def both_busy() -> bool:
                return await live("ivr") >= 2 and await live("ivr2") >= 2

            await until(both_busy, "two calls in progress on each node", interval=0.3)
            killed_at = time.monotonic()
            killed = await asyncio.to_thread(cluster.compose, "kill", "ivr")
            after = []
            for sc in long_calls(6, 300):  # new calls after the kill, one a second: each meets the dialplan anew
                after.append(asyncio.create_task(caller.call(sc)))
                await asyncio.sleep(1)
            # 3. An agent logs in and the caller's phone listens behind the trunk: the node alive dials back.
            phone.start()
            agent.start()
            talking = asyncio.create_task(agent_ends_calls(ami, agent, after=3.0))
            dialled_at, dialled = await ami.wait_for("OriginateResponse", Channel=f"Local/{CALLBACK_NUMBER}@*",
                                                     Response="Success")
            # The phone answered and the caller waits for an agent in the queue (behind the calls the kill sent
            # there: reaching the agent is the bare test's business, test_callback).
            _, joined = await ami.wait_for("QueueCallerJoin", Uniqueid=dialled["Uniqueid"])
            placed = await asyncio.gather(*first, *after)
            db = await asyncpg.connect(host=cluster.address("postgres"), user="ivr", database="ivr",
                                       password=single.env["IVR_DB_PASSWORD"])
            try:
                stored: dict[str, list[dict]] = {}

                async def every_call_recorded() -> bool:
                    stored.clear()
                    for row in await db.fetch("SELECT node, record FROM call_records"):
                        record = json.loads(row["record"])
                        stored.setdefault(record.get("sip_call_id", ""), []).append({**record, "node": row["node"]})
                    return all(r.call_id in stored for r in (*while_down, *placed))

                await until(every_call_recorded, "a record for every call placed", interval=0.5,
                            seen=lambda: [r.call_id for r in placed if r.call_id not in stored])
                callbacks = await db.fetch("SELECT booked_by, claimed_by, state, attempts FROM callbacks")
            finally:
                await db.close()
            talking.cancel()
            originates = ami.events("OriginateResponse", Channel=f"Local/{CALLBACK_NUMBER}@*")
    finally:
        for softphone in (phone, agent):
            softphone.stop()
        (single.workdir / "cluster.log").write_text(cluster.logs())  # what each node said, for a failure's reader
        # Back to the one-node line the other tests run on.
        cluster.compose("rm", "-sf", "ivr2", "postgres", "prometheus", check=False)
        single.compose("up", "-d", timeout=BUILD_TIMEOUT)
        single.wait_healthy(["tracking", "ivr", "asterisk"])

    def fate(result) -> str:
        records = stored[result.call_id]
        if len(records) != 1:
            return f"{len(records)} records"
        return "safety net" if records[0]["reason"] == "node_lost" else f"record:{records[0]['node']}"

    fates = [fate(r) for r in placed]
    docker_line.report(step="cluster kill", placed=len(while_down) + len(placed),
                       answered=sum(r.answered for r in (*while_down, *placed)),
                       fates={f: fates.count(f) for f in set(fates)}, while_node2_down=[fate(r) for r in while_down],
                       callback_originates=len(originates), callback_dialled_s_after_kill=round(dialled_at - killed_at, 1),
                       callbacks=[dict(c) for c in callbacks], kill=killed.returncode)
    assert all(r.answered for r in placed)
    assert [f for f in fates if f.endswith("records")] == []  # one outcome per call, none lost
    assert "record:ivr-2" in fates  # the node alive took calls
    # Node 2 stopped: every call, the booking included, was taken by node 1.
    assert {fate(r) for r in while_down} == {"record:ivr-1"}
    assert stored[while_down[0].call_id][0]["outcome"] == "callback"
    # The callback booked on node 1 was dialled once, by node 2: the phone on this host answered, into the queue.
    assert len(originates) == 1 and joined["Queue"] == "contractor" and "Call established" in phone.output()
    assert [(c["booked_by"], c["claimed_by"], c["state"], c["attempts"]) for c in callbacks] == [
        ("ivr-1", "ivr-2", "done", 1)]


async def test_a_restart_of_the_ivr_drains_its_calls_and_hands_the_rest_to_an_agent(docker_line, shipped_flows, tmp_path):
    """`docker compose restart ivr` while calls are in progress: SIGTERM lets them go on for the IVR's grace
    (30 s, within compose's stop_grace_period); a call still running then is handed to the contractor queue
    (reason ivr_shutdown), where an agent answers. Every call: answered, one record, never dropped."""
    line = docker_line.compose
    agent = Baresip(tmp_path / "agent", user="agent2", password=line.env["SIP_AGENT2_PASSWORD"],
                    registrar=f"{docker_line.host}:5060", register=True, auto_answer=True, listen_ip=docker_line.host)
    # Callers handed to the queue wait there as people do, and the one agent ends each call a few seconds
    # after taking it, then has 15 s of wrap-up: the queue's announcement (up to ~10 s: the caller's
    # place, the wait, the kept-turn offer) also plays out before a freed agent is rung. 6 s of patience
    # was enough only while the queue said nothing and one call at most was handed.
    caller = SipCaller(f"{docker_line.host}:5060", "tester", line.env["SIP_TESTER_PASSWORD"], local_ip=docker_line.host,
                       quiet_after_prompt=1.5, max_prompt_wait=40, stay_in_queue=180)
    since = len(line.logs("asterisk"))

    async def agent_ends_each_call(after: float = 3.0) -> None:
        handled = 0
        while True:
            log = await asyncio.to_thread(line.logs, "asterisk")
            answered = len(re.findall(r"PJSIP/agent2-\w+ answered", log[since:]))
            if answered > handled:
                handled = answered
                await asyncio.sleep(after)
                agent.hangup()
            await asyncio.sleep(1.0)

    talking: asyncio.Task | None = None
    try:
        agent.start()
        agent.wait_log(r"200 OK")  # registered through the published port
        talking = asyncio.create_task(agent_ends_each_call())
        calls = [asyncio.create_task(caller.call(sc)) for sc in long_calls(4, 500)]

        async def busy() -> bool:
            view = await asyncio.to_thread(docker_line.admin_get, "/calls")
            return int(view["active"]) >= 3

        await until(busy, "three calls in progress on the IVR", interval=0.3)
        started = time.monotonic()
        restarted = await asyncio.to_thread(line.compose, "restart", "ivr", timeout=120)
        restart_s = round(time.monotonic() - started, 1)
        placed = await asyncio.gather(*calls)
        await asyncio.to_thread(line.wait_healthy, ["ivr"])

        def records():
            found = {r.call_id: docker_line.admin_get(f"/calls/recent?limit=50&sip_call_id={r.call_id}")["calls"]
                     for r in placed}
            return found if all(found.values()) else None

        found = await asyncio.to_thread(wait_until, records, "a record for every call placed", timeout=DEADLINE)
    finally:
        if talking is not None:
            talking.cancel()
        agent.stop()
    log = line.logs("asterisk")[since:]
    handed = [rs[-1] for rs in found.values() if rs[-1]["reason"] == "ivr_shutdown"]
    docker_line.report(step="restart during calls", placed=len(placed), restart_s=restart_s,
                       outcomes=sorted(f"{rs[-1]['outcome']}/{rs[-1]['reason']}" for rs in found.values()),
                       handed_to_agent=len(handed))
    assert restarted.returncode == 0 and all(r.answered for r in placed)
    assert all(len(rs) == 1 for rs in found.values())  # one outcome per call
    # A self-served keypad call lasts longer than the grace in prompts alone: those were cut and handed on.
    assert handed
    for record in handed:  # cut by the restart: in the contractor queue, answered by the agent
        assert record["outcome"] == "error_routed" and record["queue"] == "contractor"
        assert re.search(rf"PJSIP/agent2-\w+ answered {re.escape(record['channel'])}", log), record["channel"]
