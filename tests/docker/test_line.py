"""The 34 00 line built from our Dockerfiles and run with the repository's docker-compose.yml.

What a newcomer does (`docker compose up -d --build`, `docker compose run --rm tester`), what a caller
does (a softphone on this host dials the published SIP port), what an administrator does (edits the
mounted flows folder), checked on the real engine: images, health, real SIP between containers.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile

import pytest

from ivr.waiting import DEADLINE, wait_until
from tests.docker.conftest import SHIPPED_FLOW, ci_bundle, flows_as
from tests.docker.line import ROOT
from tests.e2e.baresip import Baresip, speech_share

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
        phone.start()
        phone.dial(f"sip:3400@{docker_line.host}:5060")
        phone.wait_log(r"Call established")
        mark = 0
        for keys in ("1", "1", "5458443881#", "1", "1", "5"):
            mark = phone.wait_prompt_over(mark)
            phone.press(keys)
            mark = phone.heard_so_far()
        phone.wait_log(r"(?i)(call closed|session closed|terminated)")
        call_id = phone.call_id()
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
    refused = wait_until(lambda: docker_line.admin_get("/flows")["line"]["rejected"], "the broken edit to be refused",
                         timeout=DEADLINE)
    view_after = docker_line.admin_get("/flows")
    assert view_after["flows"][0]["version"] == view["flows"][0]["version"]
    assert re.search(r"ants-3400\.yaml:\d+", json.dumps(refused)), refused
    ready = docker_line.admin_get("/readyz")
    assert "rejected" in json.dumps(ready)
    docker_line.report(step="flows edit", refused=str(refused)[:300])
