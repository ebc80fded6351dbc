"""Server settings: command-line options over ``IVR_*`` environment variables over a YAML config file.

Secrets (the AMI password) come only from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "TesterSettings", "PACKAGE_DIR", "DEFAULT_PROMPTS_DIR", "DEFAULT_FLOWS_DIR",
           "ASTERISK_SOUNDS_CATALOG", "ASTERISK_SOUNDS_DIR", "DEFAULT_RULES", "load_settings",
           "dynamic_prompts_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_PROMPTS_DIR = PACKAGE_DIR / "prompts"
#: The line the IVR serves unless told otherwise: the 34 00.
DEFAULT_PROFILE = "ivr.ants3400.profile:PROFILE"
DEFAULT_FLOWS_DIR = PACKAGE_DIR / "flows"
#: Asterisk's own sounds in French (the queues' announcements, number words): their texts, and where
#: ``ivr prompts build`` renders them (Asterisk's ``sounds`` folder: the image and the lab install it).
ASTERISK_SOUNDS_CATALOG = DEFAULT_PROMPTS_DIR / "asterisk-fr.yaml"
ASTERISK_SOUNDS_DIR = PACKAGE_DIR.parent / "asterisk" / "sounds"
#: The 34 00 line's routing rules.
DEFAULT_RULES = PACKAGE_DIR / "ants3400" / "rules.yaml"


class Settings(BaseSettings):
    """Everything ``ivr serve`` can be told. Field ``x`` is also ``IVR_X`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="IVR_", extra="forbid")

    host: str = "127.0.0.1"
    #: Each listener's own address (default: ``host``): FastAGI and AudioSocket face Asterisk, admin faces operators.
    agi_host: str | None = None
    audiosocket_host: str | None = None
    admin_host: str | None = None
    #: Who may open FastAGI and AudioSocket connections (CIDR list): loopback and the compose network.
    peer_allow: str = "127.0.0.0/8,::1/128,172.28.34.0/24"
    #: Connections open at once per listener (shrunk to fit the process's descriptor limit).
    max_agi_connections: int = 1000
    max_audiosocket_connections: int = 500
    max_admin_connections: int = 64
    #: Host names the admin pages answer to besides loopback (``ivr,ivr.example.org``); with a token and
    #: none given, any.
    admin_allowed_hosts: str = ""
    agi_port: int = 4573
    audiosocket_port: int = 9092
    admin_port: int = 8080
    #: Required for the admin HTTP server when it listens beyond loopback (Authorization: Bearer …).
    admin_token: SecretStr = SecretStr("")
    #: Address Asterisk should use to reach our AudioSocket server (defaults to host).
    audiosocket_advertise: str = ""
    records: Path = Path("var/calls.jsonl")
    prompts_dir: Path = DEFAULT_PROMPTS_DIR
    #: Where spoken readbacks rendered during calls go (default ``<prompts_dir>/cache``). Asterisk plays
    #: them by absolute path: in containers, a volume both mount at the same path.
    dynamic_prompts_dir: Path | None = None
    #: Key naming rendered readbacks (a keyed hash: file names reveal nothing); default random per process.
    prompt_cache_key: SecretStr = SecretStr("")
    #: Seconds a rendered readback is kept (it speaks a file number or a status).
    readback_ttl: float = 24 * 3600
    #: Most readbacks kept on disk; the oldest go first.
    readback_max_files: int = 20_000
    flows_dir: Path = DEFAULT_FLOWS_DIR
    #: The line's profile, ``module:attribute`` (its slots, filters, routing facts, lookups): the 34 00's
    #: by default. Another line (or a bench's line) names its own; it is imported at start.
    profile: str = DEFAULT_PROFILE
    #: Asterisk's configuration (the ``asterisk/etc`` Asterisk reads) that flows and rules are checked
    #: against: the flows the dialplan runs, the variables it forwards, the queues. Default: the
    #: line's own in a checkout; none otherwise (then those checks are not made, and the server says so).
    asterisk_etc: Path | None = None
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = ""
    ami_secret: SecretStr = SecretStr("")
    #: What must survive a restart (callbacks, daily caller counts): a SQLite file (one node), or a
    #: ``postgresql://`` URL shared by several nodes (call records go there too). The password may be
    #: left out of the URL and given as PGPASSWORD.
    store: str = "var/ivr.sqlite"
    #: Seconds a store operation may hold a caller (counting the call, booking a callback): past it the
    #: call goes on without it (the caller waits in the queue instead of being called back).
    store_call_timeout: float = Field(0.5, gt=0, le=30)
    #: Seconds within which a queued call must be answered to count for the service level (the
    #: indicators' « 80 % within 20 s »).
    service_level_seconds: int = Field(20, ge=1, le=3600)
    #: « Once and done »: a caller (or a file) that calls again within this many days was not done at once.
    once_and_done_days: int = Field(7, ge=1, le=30)
    #: How often the closure notices are read from the store (seconds): a notice switched on or off
    #: anywhere is heard, or no longer heard, within this time on every node.
    notice_poll: float = Field(2.0, gt=0, le=60)
    #: How long a console session lasts once signed in (hours).
    session_hours: float = Field(8.0, gt=0, le=24 * 7)
    #: How often each node asks the store for the live published version (seconds): a publish or a
    #: rollback serves new calls on every node within this time (plus the version's check).
    version_poll: float = Field(2.0, gt=0, le=60)
    #: This node's name among several (``ivr-1``): set on each call for the dialplan's fail-over
    #: (``IVR_NODE``) and kept in its records. Empty: one node (the host name in records).
    node_name: str = ""
    #: Key of the caller-number hashes in the store (default: a random key kept in the store itself).
    caller_hash_key: SecretStr = SecretStr("")
    #: The last accepted flows, rules and catalog (a restart with a broken file serves them).
    accepted_dir: Path = Path("var/accepted")
    #: Routing rules (default: the 34 00 line's, ``ivr/ants3400/rules.yaml``).
    routing_rules: Path | None = None
    #: Channel that reaches a caller for a callback ({number} is replaced); dialplan context that queues them.
    callback_channel: str = "Local/{number}@ivr-callback-out"
    callback_context: str = "ivr-callback"
    #: Seconds before a callback whose call failed (no answer, busy) is dialled again (3 tries in all).
    callback_retry_after: float = 60.0
    #: International prefixes callbacks may dial besides French geographic and mobile numbers (``+590,+262``);
    #: ``[ivr-callback-out]`` in the dialplan needs a matching line for each.
    callback_international: str = ""
    #: File lookups one caller number may make in ``lookup_window`` seconds (more go to an agent).
    lookups_per_caller: int = 10
    lookup_window: float = 600.0
    tracking_url: str = "http://127.0.0.1:8081"
    tracking_timeout: float = 2.0
    vosk_model: Path | None = None
    #: Ask questions by speech when a model is loaded (keypad always works).
    speech: bool = True
    #: Input frames (10 ms) the acoustic model evaluates at a time (0: Vosk's own, 20). More decodes
    #: cheaper and lets the partial result lag more (``ivr bench speech --profile`` measures both): 51
    #: costs a fifth less than 20, and a whole answer is still known at the pause (the recogniser's
    #: final result is asked for there, see ``ivr.listening.speech``).
    speech_chunk_frames: int = Field(51, ge=0, le=300)
    #: Ask the recogniser for its final result at a pause one digit short of a whole number, so a whole
    #: answer ends its question there rather than when the lagging partial result catches up.
    speech_close_at_pause: bool = True
    #: Seconds the oldest audio may wait for a decoding thread before new questions are offered the
    #: keypad (until it is back under half of it).
    speech_busy_lag: float = Field(0.25, gt=0, le=10)
    #: What tells the caller's voice from the line's noise (``ivr.audio.voicing.VOICINGS``): webrtc (WebRTC's
    #: detector beside a level gate), silero (the Silero network beside one; needs onnxruntime and the
    #: silero-vad wheel) or energy (the first endpointer). ``ivr bench vad`` measured them; README « Noisy lines ».
    vad: Literal["webrtc", "silero", "energy"] = "webrtc"
    #: 1.0 sends prompt audio over AudioSocket in real time (Asterisk); 0 as fast as possible (simulations).
    audiosocket_pace: float = 1.0
    #: Folder shared with Asterisk for the RECORD FILE fallback (unset: keypad fallback).
    record_dir: Path | None = None
    #: Seconds between checks of the flow folder for changes (0: only on SIGHUP).
    flow_watch_interval: float = 1.0
    #: Honour ``sim_now=`` AGI arguments (simulated calls choose the time of day). Testing only.
    allow_sim_clock: bool = False
    log_format: str = "auto"
    log_level: str = "info"
    # Bounds of the AGI layer.
    max_line: int = 8192
    env_timeout: float = 5.0
    reply_timeout: float = 10.0
    shutdown_grace: float = 30.0

    @field_validator("node_name")
    @classmethod
    def _node_name(cls, value: str) -> str:
        import re

        if value and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,31}", value):
            raise ValueError(f"node name {value!r}: a letter, then letters, digits, - and _ (32 at most)")
        return value

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        return checked_profile(value)

    @field_validator("store", mode="before")
    @classmethod
    def _store(cls, value: object) -> str:
        return str(value)  # a path or a URL


def checked_profile(value: str) -> str:
    """A profile reference as ``module:attribute``, or a ValueError saying so."""
    import re

    if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", value):
        raise ValueError(f"profile {value!r}: module:attribute, e.g. ivr.ants3400.profile:PROFILE")
    return value


class CheckSettings(BaseSettings):
    """What ``ivr flows check`` and ``ivr rules check`` read from the environment: the line's profile,
    so that they check against the profile the servers run."""

    model_config = SettingsConfigDict(env_prefix="IVR_", extra="ignore")

    profile: str = DEFAULT_PROFILE

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        return checked_profile(value)


def dynamic_prompts_dir(settings: Settings) -> Path:
    """The folder of spoken readbacks for these settings."""
    return settings.dynamic_prompts_dir or settings.prompts_dir / "cache"


class TesterSettings(BaseSettings):
    """What ``ivr sip-call`` (a tester's phone) reads from the environment: its secrets only."""

    model_config = SettingsConfigDict(env_prefix="IVR_", extra="ignore")

    #: The tester endpoint's SIP password (``IVR_SIP_PASSWORD``).
    sip_password: SecretStr = SecretStr("")
    #: The console's token, to read the calls' records (``IVR_ADMIN_TOKEN``).
    admin_token: SecretStr = SecretStr("")


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Settings from a YAML file (if given), then the environment, then ``overrides``.

    ``overrides`` with value None are ignored (unset command-line options).
    The AMI secret is refused in the file: it must come from ``IVR_AMI_SECRET``.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        from ruamel.yaml import YAML

        loaded = YAML(typ="safe").load(Path(config_file).read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: the config file must be a mapping of settings")
        for secret in ("ami_secret", "admin_token", "caller_hash_key", "prompt_cache_key"):
            if secret in loaded:
                raise ValueError(f"{config_file}: {secret} must come from the IVR_{secret.upper()} environment variable")
        file_values = {k.replace("-", "_"): v for k, v in loaded.items()}
    env_settings = Settings()
    merged = {**file_values}
    # Environment beats the file: only take env values that were explicitly set.
    for name in env_settings.model_fields_set:
        merged[name] = getattr(env_settings, name)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(merged) if merged else env_settings
