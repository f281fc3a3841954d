"""The agent's settings, read from its environment: every name the executors set lives here.

An executor (Lite ``subprocess``, Pro ``kubernetes``) starts ``python -m leoflow_sdk.agent``
with these variables; ``docs/agent.md`` lists them with examples. None of them reaches user
code: the agent removes every ``LEOFLOW_AGENT_*`` and ``LEOFLOW_TI_*`` variable (and every
other inherited ``LEOFLOW_*`` one) from the environment of the process it starts.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ADDRESS: Final = "LEOFLOW_AGENT_ADDRESS"
"""Required. The control plane's AgentService as gRPC target: ``host:port`` or
``unix:/path/to.sock``."""

TOKEN: Final = "LEOFLOW_AGENT_TOKEN"
"""The per-task-instance JWT minted at dispatch (or use ``LEOFLOW_AGENT_TOKEN_FILE``)."""

TOKEN_FILE: Final = "LEOFLOW_AGENT_TOKEN_FILE"
"""A file holding the token instead (a mounted Kubernetes secret keeps it out of the pod spec)."""

INSECURE: Final = "LEOFLOW_AGENT_INSECURE"
"""``true``: plaintext gRPC (Lite on loopback). Otherwise TLS is used."""

TLS_CA: Final = "LEOFLOW_AGENT_TLS_CA"
"""PEM file of the CA that signed the control plane's certificate (unset: system roots)."""

TLS_CERT: Final = "LEOFLOW_AGENT_TLS_CERT"
"""PEM client certificate, for servers that require mutual TLS (needs ``..._TLS_KEY``)."""

TLS_KEY: Final = "LEOFLOW_AGENT_TLS_KEY"
"""PEM private key of ``LEOFLOW_AGENT_TLS_CERT``."""

TLS_SERVER_NAME: Final = "LEOFLOW_AGENT_TLS_SERVER_NAME"
"""Name to verify in the server certificate when it differs from the address's host."""

RETRY_DEADLINE: Final = "LEOFLOW_AGENT_RETRY_DEADLINE_SECONDS"
"""How long an unreachable control plane is retried before giving up (default 180, min 1).
Must outlast a control-plane restart (lessons: ~60-80 s), hence the default."""

RPC_TIMEOUT: Final = "LEOFLOW_AGENT_RPC_TIMEOUT_SECONDS"
"""Deadline of one call attempt (default 10)."""

KILL_GRACE: Final = "LEOFLOW_AGENT_KILL_GRACE_SECONDS"
"""Time between SIGTERM and SIGKILL when the task must stop (default 10)."""

LOG_FLUSH: Final = "LEOFLOW_AGENT_LOG_FLUSH_SECONDS"
"""Longest time a log line waits before it is sent (default 0.2, at most 1)."""

WORK_ROOT: Final = "LEOFLOW_AGENT_WORK_ROOT"
"""Folder in which the per-try work folder is created (default: the system temp folder)."""

KEEP_WORK_DIR: Final = "LEOFLOW_AGENT_KEEP_WORK_DIR"
"""``true``: keep the per-try work folder after the try (debugging)."""

ECHO_LOGS: Final = "LEOFLOW_AGENT_ECHO_LOGS"
"""``true``: also copy the task's output to the agent's own stdout/stderr (``kubectl logs``)."""

STANDBY: Final = "LEOFLOW_AGENT_STANDBY"
"""``false``: start the runtime only when the try starts. By default (``true``) the agent starts
it first thing, so the runtime boots while the agent imports gRPC and prepares the try."""

PYTHON: Final = "LEOFLOW_AGENT_PYTHON"
"""Interpreter that runs the runtime (default: the agent's own, i.e. the DAG's environment)."""

RUNTIME_TEMPLATE: Final = "LEOFLOW_AGENT_RUNTIME_TEMPLATE"
"""Set by an executor that hands the agent a runtime forked by the DAG's runtime template
(``runtime_template``): JSON ``{"module", "source_sha256", "env_reads"}`` describing what the
template imported, so the agent can check that it fits the try before using it."""

TRACEPARENT: Final = "LEOFLOW_AGENT_TRACEPARENT"
"""W3C trace context of the try (``00-<trace id>-<root span id>-01``, set by the executor): the
agent's phase spans and every call it makes join the try's trace. Unset: nothing is traced."""

LOG_FORMAT: Final = "LEOFLOW_AGENT_LOG_FORMAT"
"""The agent's own log lines on stdout: ``json`` (default, one object per line with the try's
correlation fields) or ``console`` (``leoflow agent: …``)."""

DAG_DIR: Final = "LEOFLOW_DAG_DIR"
"""The DAG's project folder (the image sets it; Lite: the workspace project folder). Default:
the agent's working directory. It is the working directory of the task process and comes
first on its ``sys.path``."""

TI_TENANT: Final = "LEOFLOW_TI_TENANT"
TI_DAG_ID: Final = "LEOFLOW_TI_DAG_ID"
TI_RUN_ID: Final = "LEOFLOW_TI_RUN_ID"
TI_TASK_ID: Final = "LEOFLOW_TI_TASK_ID"
TI_MAP_INDEX: Final = "LEOFLOW_TI_MAP_INDEX"
TI_TRY_NUMBER: Final = "LEOFLOW_TI_TRY_NUMBER"
"""Optional identity of the try the executor launched. When set, it must match what
``Register`` answers for the token (a token handed to the wrong process is refused), and it
names the try in the agent's own messages before the control plane answered."""

AGENT_ONLY_PREFIXES: Final = ("LEOFLOW_AGENT_", "LEOFLOW_TI_")
"""Variables meant for the agent alone; they never reach the task's environment."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class SettingsError(ValueError):
    """A missing or invalid setting; the message names the variable and the fix."""


@dataclass(frozen=True)
class ExpectedIdentity:
    """The try the executor says it launched (``LEOFLOW_TI_*``); unset fields are not checked."""

    tenant: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None

    def describe(self) -> str:
        """``dag/run/task try N`` for messages (or "unknown task instance")."""
        if not self.dag_id and not self.task_id:
            return "an unknown task instance"
        text = f"{self.dag_id or '?'}/{self.run_id or '?'}/{self.task_id or '?'}"
        return text + (f" try {self.try_number}" if self.try_number is not None else "")


@dataclass(frozen=True)
class TemplateDescription:
    """What a runtime template imported (``LEOFLOW_AGENT_RUNTIME_TEMPLATE``)."""

    module: str
    source_sha256: str
    env_reads: dict[str, str | None]
    """Variables the DAG file's import read, with the values it saw (``None``: unset)."""


@dataclass(frozen=True)
class AgentSettings:
    """Everything the agent reads from its environment."""

    address: str
    token: str
    insecure: bool
    tls_ca: str | None
    tls_cert: str | None
    tls_key: str | None
    tls_server_name: str | None
    retry_deadline_seconds: float
    rpc_timeout_seconds: float
    kill_grace_seconds: float
    log_flush_seconds: float
    work_root: str | None
    keep_work_dir: bool
    echo_logs: bool
    standby: bool
    python: str | None
    dag_dir: str
    expected: ExpectedIdentity
    traceparent: str | None = None
    log_format: str = "json"
    runtime_template: TemplateDescription | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentSettings:
        """Read and validate the settings (``SettingsError`` naming the variable)."""
        env = os.environ if environ is None else environ
        address = env.get(ADDRESS, "").strip()
        if not address:
            raise SettingsError(
                f"{ADDRESS} is not set: the executor must set it to the control plane's "
                "agent endpoint (host:port)"
            )
        cert, key = _path(env, TLS_CERT), _path(env, TLS_KEY)
        if bool(cert) != bool(key):
            raise SettingsError(f"set both {TLS_CERT} and {TLS_KEY} for mutual TLS, or neither")
        return cls(
            address=address,
            token=_token(env),
            insecure=_flag(env, INSECURE),
            tls_ca=_path(env, TLS_CA),
            tls_cert=cert,
            tls_key=key,
            tls_server_name=env.get(TLS_SERVER_NAME) or None,
            retry_deadline_seconds=_seconds(env, RETRY_DEADLINE, 180.0, minimum=1.0),
            rpc_timeout_seconds=_seconds(env, RPC_TIMEOUT, 10.0, minimum=0.1),
            kill_grace_seconds=_seconds(env, KILL_GRACE, 10.0, minimum=0.0),
            log_flush_seconds=min(_seconds(env, LOG_FLUSH, 0.2, minimum=0.01), 1.0),
            work_root=env.get(WORK_ROOT) or None,
            keep_work_dir=_flag(env, KEEP_WORK_DIR),
            echo_logs=_flag(env, ECHO_LOGS),
            standby=_flag(env, STANDBY, default=True),
            python=env.get(PYTHON) or None,
            dag_dir=os.path.abspath(env.get(DAG_DIR) or os.getcwd()),
            expected=ExpectedIdentity(
                tenant=env.get(TI_TENANT) or None,
                dag_id=env.get(TI_DAG_ID) or None,
                run_id=env.get(TI_RUN_ID) or None,
                task_id=env.get(TI_TASK_ID) or None,
                map_index=_int(env, TI_MAP_INDEX),
                try_number=_int(env, TI_TRY_NUMBER),
            ),
            traceparent=env.get(TRACEPARENT) or None,
            log_format=_log_format(env),
            runtime_template=_template(env),
        )


def _template(env: Mapping[str, str]) -> TemplateDescription | None:
    raw = env.get(RUNTIME_TEMPLATE)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        reads = data["env_reads"]
        description = TemplateDescription(
            module=str(data["module"]),
            source_sha256=str(data["source_sha256"]),
            env_reads={str(k): None if v is None else str(v) for k, v in reads.items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SettingsError(f"{RUNTIME_TEMPLATE} is not a template description: {exc}") from None
    return description


def _token(env: Mapping[str, str]) -> str:
    token = env.get(TOKEN, "").strip()
    path = env.get(TOKEN_FILE, "").strip()
    if token and path:
        raise SettingsError(f"set {TOKEN} or {TOKEN_FILE}, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as exc:
            raise SettingsError(f"{TOKEN_FILE}: cannot read {path}: {exc.strerror}") from None
    if not token:
        raise SettingsError(
            f"{TOKEN} (or {TOKEN_FILE}) is not set: the executor must pass the per-task token "
            "minted at dispatch"
        )
    return token


def _log_format(env: Mapping[str, str]) -> str:
    value = env.get(LOG_FORMAT, "").strip().lower() or "json"
    if value not in ("json", "console"):
        raise SettingsError(f"{LOG_FORMAT}={value!r} is not a log format; use json or console")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={value!r} is not a boolean; use true or false")


def _seconds(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number of seconds") from None
    if math.isnan(value) or value < minimum:
        raise SettingsError(f"{name}={raw!r} must be a number of seconds >= {minimum:g}")
    return value


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


def _path(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not os.path.isfile(value):
        raise SettingsError(f"{name}={value!r} is not a readable file")
    return value or None
