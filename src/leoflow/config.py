"""Server configuration: one typed settings object built from defaults, a YAML file and env.

Precedence (highest first): ``LEOFLOW_*`` environment variables, the YAML file named by
``LEOFLOW_CONFIG_FILE`` (or passed explicitly), then the defaults below. Platform defaults for
tasks (retries, timeouts, resources) live here too and fill gaps at dispatch time; they are
never written into a compiled ``dag.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError


class ConfigFileError(ValueError):
    """The configuration file cannot be read; the message names the file and the fix."""


def read_config_file(path: Path) -> dict[str, Any]:
    """Load a YAML config file (duplicate keys are refused) into a plain mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read config file {path}: {exc.strerror}; fix LEOFLOW_CONFIG_FILE"
        ) from exc
    try:
        data = YAML(typ="safe", pure=True).load(text)
    except YAMLError as exc:
        raise ConfigFileError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a mapping of settings at top level")
    return data


Edition = Literal["lite", "pro"]
LogFormat = Literal["json", "console"]


class TaskDefaults(BaseModel):
    """Platform defaults applied at dispatch when neither the task nor the DAG sets a value."""

    retries: int = Field(default=0, ge=0)
    retry_delay_seconds: float = Field(default=300.0, ge=0)
    execution_timeout_seconds: float | None = Field(default=None, gt=0)


class Settings(BaseSettings):
    """Everything a Leoflow process can be told from outside."""

    model_config = SettingsConfigDict(
        env_prefix="LEOFLOW_",
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    edition: Edition = "lite"
    home: Path = Field(default_factory=lambda: Path.home() / ".leoflow")
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    database_pool_min_size: int = Field(default=1, ge=1)
    database_pool_max_size: int = Field(default=10, ge=1)

    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8088, ge=0, le=65535)
    grpc_host: str = "127.0.0.1"
    grpc_port: int = Field(default=0, ge=0, le=65535)

    log_format: LogFormat = "json"
    log_level: str = "INFO"
    otlp_endpoint: str | None = None
    service_name: str = "leoflow"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    leader_lock_key: int = 0x1E0F10
    leader_watchdog_interval_seconds: float = Field(default=2.0, gt=0)
    heartbeat_timeout_seconds: float = Field(default=90.0, gt=0)
    scheduler_tick_seconds: float = Field(default=1.0, gt=0)
    scheduler_follower_retry_seconds: float = Field(default=3.0, gt=0)
    reaper_grace_seconds: float | None = Field(
        default=None, ge=0, description="wait after winning leadership (default: heartbeat timeout)"
    )
    dispatch_lost_timeout_seconds: float = Field(default=120.0, gt=0)
    dispatch_queue_size: int = Field(default=64, ge=1)
    dispatch_workers: int = Field(default=8, ge=1)
    dags_are_paused_at_creation: bool | None = Field(
        default=None, description="default: true in Pro (as Airflow), false in Lite"
    )

    task_defaults: TaskDefaults = Field(default_factory=TaskDefaults)

    # --- security (JWT, login throttling, secrets at rest, bootstrap admin) ---------------
    jwt_secret: SecretStr | None = None
    """HS256 signing secret of user and agent tokens; unset ⇒ a per-process random secret
    (Lite keeps one under ``home``), so tokens do not survive a restart or cross replicas."""
    jwt_expiration_seconds: int = Field(default=86400, gt=0)
    jwt_cli_expiration_seconds: int = Field(default=3600, gt=0)
    agent_token_expiration_seconds: int = Field(default=86400, gt=0)
    secret_key: SecretStr | None = None
    """AES-256-GCM key for connection secrets: 32 bytes as base64 or hex."""
    secret_key_previous: SecretStr | None = None
    """Earlier keys (comma-separated) still accepted for reading, during a key rotation."""
    login_throttle_max_failures: int = Field(default=5, ge=1)
    login_throttle_window_seconds: float = Field(default=60.0, gt=0)
    auth_cache_seconds: float = Field(default=5.0, ge=0)
    admin_username: str | None = None
    admin_password: SecretStr | None = None
    test_connection: Literal["disabled", "enabled"] = "disabled"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = os.environ.get("LEOFLOW_CONFIG_FILE")
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if yaml_file:
            data = read_config_file(Path(yaml_file))
            sources.append(InitSettingsSource(settings_cls, init_kwargs=data))
        return tuple(sources)

    def paused_at_creation(self) -> bool:
        """Whether a newly registered DAG starts paused: as configured, else true in Pro
        (Airflow's default) and false in Lite (a laptop user wants their DAG to run)."""
        if self.dags_are_paused_at_creation is not None:
            return self.dags_are_paused_at_creation
        return self.edition == "pro"

    def database_dsn(self) -> str | None:
        """The database URL as a plain string (only for handing to a driver, never to log)."""
        return self.database_url.get_secret_value() if self.database_url else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``LEOFLOW_CONFIG_FILE``, plus explicit overrides."""
    return Settings(**overrides)
