"""Server settings: command-line options over ``IVR_*`` environment variables over a YAML config file.

Secrets (the AMI password) come only from the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "PACKAGE_DIR", "DEFAULT_PROMPTS_DIR", "DEFAULT_FLOWS_DIR", "DEFAULT_RULES", "load_settings",
           "dynamic_prompts_dir"]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_PROMPTS_DIR = PACKAGE_DIR / "prompts"
DEFAULT_FLOWS_DIR = PACKAGE_DIR / "flows"
#: The 34 00 line's routing rules.
DEFAULT_RULES = PACKAGE_DIR / "ants3400" / "rules.yaml"


class Settings(BaseSettings):
    """Everything ``ivr serve`` can be told. Field ``x`` is also ``IVR_X`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="IVR_", extra="forbid")

    host: str = "127.0.0.1"
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
    flows_dir: Path = DEFAULT_FLOWS_DIR
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = ""
    ami_secret: SecretStr = SecretStr("")
    #: SQLite file for what must survive a restart (callbacks, daily caller counts).
    store: Path = Path("var/ivr.sqlite")
    #: Routing rules (default: the 34 00 line's, ``ivr/ants3400/rules.yaml``).
    routing_rules: Path | None = None
    #: Channel that reaches a caller for a callback ({number} is replaced); dialplan context that queues them.
    callback_channel: str = "Local/{number}@ivr-callback-out"
    callback_context: str = "ivr-callback"
    #: Seconds before a callback whose call failed (no answer, busy) is dialled again (3 tries in all).
    callback_retry_after: float = 60.0
    tracking_url: str = "http://127.0.0.1:8081"
    tracking_timeout: float = 2.0
    vosk_model: Path | None = None
    #: Ask questions by speech when a model is loaded (keypad always works).
    speech: bool = True
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


def dynamic_prompts_dir(settings: Settings) -> Path:
    """The folder of spoken readbacks for these settings."""
    return settings.dynamic_prompts_dir or settings.prompts_dir / "cache"


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
        if "ami_secret" in loaded:
            raise ValueError(f"{config_file}: ami_secret must come from the IVR_AMI_SECRET environment variable")
        file_values = {k.replace("-", "_"): v for k, v in loaded.items()}
    env_settings = Settings()
    merged = {**file_values}
    # Environment beats the file: only take env values that were explicitly set.
    for name in env_settings.model_fields_set:
        merged[name] = getattr(env_settings, name)
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return Settings.model_validate(merged) if merged else env_settings
