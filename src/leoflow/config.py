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


class KubernetesSettings(BaseModel):
    """The Pro executor: where task pods go, how they are built, and how they are cleaned up.

    ``docs/kubernetes.md`` describes each field; env names are ``LEOFLOW_KUBERNETES__<FIELD>``.
    """

    namespace: str = "default"
    """Namespace of task pods, their token Secrets and staging claims (not the server's own)."""
    kubeconfig: Path | None = None
    """Kubeconfig file; default: the in-cluster service account, else ``~/.kube/config``."""
    context: str | None = None
    api_url: str | None = None
    """An API server URL used without credentials (``kubectl proxy``); overrides kubeconfig."""
    instance: str = "leoflow"
    """Value of ``app.kubernetes.io/instance`` on everything created: two installations that
    share a task namespace never touch each other's pods."""
    agent_address: str | None = None
    """``host:port`` task pods dial for the AgentService (the chart's gRPC Service); default:
    ``agent_advertise_address``."""
    agent_tls_secret: str | None = None
    """Secret in the task namespace with ``ca.crt`` (and ``tls.crt``/``tls.key`` for mutual
    TLS) mounted into task pods so the agent can verify the control plane."""
    agent_tls_server_name: str | None = None
    agent_mutual_tls: bool = False
    default_image: str | None = None
    """Image of DAGs compiled without one (e.g. ``leoflow/python-runtime:3.11``)."""
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    image_pull_secrets: list[str] = Field(default_factory=list)
    service_account: str | None = None
    """Service account of task pods that do not name one (unset: no API token is mounted)."""
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    affinity: dict[str, Any] | None = None
    default_resources: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {"requests": {"cpu": "100m", "memory": "256Mi"}}
    )
    """Platform default ``requests``/``limits``; task and DAG values win per field."""
    pod_template: dict[str, Any] = Field(default_factory=dict)
    """Partial Pod merged over the generated one (maps merge, named lists merge by name)."""
    run_as_user: int = Field(default=10001, ge=1)
    run_as_group: int = Field(default=10001, ge=1)
    read_only_root_filesystem: bool = True
    active_deadline_margin_seconds: float = Field(default=300.0, ge=0)
    """Added to a task's execution timeout for the pod's ``activeDeadlineSeconds`` (the agent
    enforces the timeout; the kubelet's deadline is the backstop, and it counts image pulls)."""
    gc_delay_seconds: float = Field(default=300.0, ge=0)
    """How long a finished pod stays for ``kubectl logs``/``describe`` before it is deleted."""
    unschedulable_timeout_seconds: float = Field(default=300.0, gt=0)
    orphan_grace_seconds: float = Field(default=120.0, ge=0)
    report_grace_seconds: float = Field(default=30.0, ge=0)
    """A pod that ended while its try is still active fails the try after this long."""
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    api_retries: int = Field(default=5, ge=0)
    api_timeout_seconds: float = Field(default=30.0, gt=0)
    staging_storage_class: str | None = None
    """ReadWriteMany storage class of staging claims (a DAG's ``staging.storage_class`` wins);
    unset: the cluster's default class."""
    staging_size: str = "10Gi"
    staging_failed_retention_seconds: float = Field(default=86400.0, ge=0)
    staging_check_storage_class: bool = True
    """Refuse dispatch at once when the class is missing or known to be ReadWriteOnce-only."""


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

    # --- execution path: agent service, XCom, task logs, executors ------------------------
    agent_tls_cert_file: Path | None = None
    """PEM certificate of the gRPC AgentService; with the key, the port serves TLS only."""
    agent_tls_key_file: Path | None = None
    agent_tls_client_ca_file: Path | None = None
    """PEM bundle; when set, agents must present a client certificate it signed (mTLS)."""
    agent_tls_ca_file: Path | None = None
    """What agents verify the server with (default: the server certificate, if self-signed)."""
    agent_tls_server_name: str | None = None
    """Name agents check in the server certificate when it differs from the address's host."""
    agent_tls_client_cert_file: Path | None = None
    """Client certificate the executors hand to agents when mTLS is on (with its key)."""
    agent_tls_client_key_file: Path | None = None
    agent_allow_insecure_secrets: bool = False
    """Lite on loopback only: deliver variables and connections over a plaintext channel."""
    agent_advertise_address: str | None = None
    """``host:port`` agents dial; default: the gRPC host and the port actually bound."""
    agent_heartbeat_interval_seconds: float = Field(default=10.0, gt=0)
    xcom_max_size_bytes: int = Field(default=256 * 1024, gt=0)
    xcom_default_ttl_seconds: int = Field(default=7 * 86400, gt=0)
    xcom_sweep_interval_seconds: float = Field(default=300.0, gt=0)
    log_retention_days: float = Field(default=30.0, ge=0, description="0 keeps logs forever")
    subprocess_parallelism: int = Field(default=16, ge=1)
    subprocess_kill_grace_seconds: float = Field(default=10.0, ge=0)
    subprocess_fork_server: bool = True
    """Fork agents from a warm server per DAG venv (Linux) instead of spawning each one."""
    subprocess_runtime_templates: bool = True
    """Fork the runtimes of large DAGs from a template that imported the DAG file once per DAG
    version (needs the fork server; ``docs/execution.md``)."""
    subprocess_runtime_template_min_tasks: int = Field(default=100, ge=1)
    """Smallest DAG (in tasks) whose versions get a runtime template."""
    staging_failed_retention_seconds: float = Field(default=86400.0, ge=0)
    """Staging folders (subprocess executor) of a failed run are kept this long to inspect;
    Kubernetes claims have ``kubernetes.staging_failed_retention_seconds``."""
    staging_sweep_interval_seconds: float = Field(default=60.0, gt=0)
    """How often staging folders of finished or deleted runs are looked for and deleted."""
    venv_installer: Literal["auto", "uv", "pip"] = "auto"
    sdk_requirement: str | None = None
    """What to install as leoflow-sdk in DAG venvs (default: this checkout's ``sdk/`` when
    installed editable, else ``leoflow-sdk==<version>``)."""
    http_execution_mode_default: Literal["inline", "pod"] = "inline"
    inline_http_concurrency: int = Field(default=32, ge=1)
    inline_http_max_seconds: float = Field(default=300.0, gt=0)
    inline_http_allow_loopback: bool | None = Field(
        default=None, description="default: true in Lite, false in Pro"
    )
    inline_http_allow_private: bool = False
    inline_http_allowed_cidrs: list[str] = Field(default_factory=list)
    executor: Literal["auto", "subprocess", "kubernetes"] = "auto"
    """What runs tasks: ``auto`` is ``kubernetes`` in Pro and ``subprocess`` in Lite."""
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)

    # --- web UI (the Airflow SPA served by Leoflow) ----------------------------------------
    base_url: str = "/"
    """Path prefix everything is served under (``/leoflow/`` behind a proxy that keeps it)."""
    ui_assets_dir: Path | None = None
    """Folder of provisioned UI files; default ``<home>/assets/airflow-ui/<version>``."""
    instance_name: str | None = None
    """Name shown in the UI's title and dashboard; default "Leoflow" or "Leoflow Lite"."""
    editor_assets_dir: Path | None = None
    """Folder of Lite's provisioned code editor (Monaco); default
    ``<home>/assets/monaco-editor/<version>``."""
    docs_assets_dir: Path | None = None
    """Folder of the API reference's provisioned renderer (Scalar); default
    ``<home>/assets/scalar-api-reference/<version>``."""
    docs_require_auth: bool = False
    """Answer ``/docs`` and ``/openapi.json`` only to an authenticated caller (a bearer token
    or the web UI's ``_token`` cookie); off by default, like Airflow's API reference."""

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

    def task_executor(self) -> Literal["subprocess", "kubernetes"]:
        """The executor of non-inline tasks (``executor``, resolved for the edition)."""
        if self.executor != "auto":
            return self.executor
        return "kubernetes" if self.edition == "pro" else "subprocess"

    def database_dsn(self) -> str | None:
        """The database URL as a plain string (only for handing to a driver, never to log)."""
        return self.database_url.get_secret_value() if self.database_url else None


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and ``LEOFLOW_CONFIG_FILE``, plus explicit overrides."""
    return Settings(**overrides)
