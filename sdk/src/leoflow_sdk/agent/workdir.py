"""The per-try work folder and the environment of the user process.

The folder (private, ``0700``) holds what the runtime reads besides its environment — the task
spec file, the DAG source materialized for this try, XCom inputs too large for an environment
variable — and what it leaves behind: the outcome, the return value and the values pushed with
``ti.xcom_push``. It is removed after the try.

The environment starts from the agent's own without any ``LEOFLOW_*`` variable (the agent's
token and settings never reach user code), then adds the delivered variables and connections,
the task's ``env`` (python tasks; bash renders its own), and the contract of DESIGN §5.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from leoflow_sdk.agent.spawn import base_environment
from leoflow_sdk.protocol import agent_pb2
from leoflow_sdk.runtime import contract, spec_file
from leoflow_sdk.runtime.spec_file import RunContext, RuntimeSpec, XComSource

_TASK_TYPES = {
    agent_pb2.TASK_TYPE_PYTHON: "python",
    agent_pb2.TASK_TYPE_BASH: "bash",
    agent_pb2.TASK_TYPE_HTTP_API: "http_api",
    agent_pb2.TASK_TYPE_EMPTY: "empty",
}


def task_entry(spec: agent_pb2.TaskSpec, task_id: str) -> dict[str, Any]:
    """The task's ``dag.json`` entry: ``task_json`` when the server sent it (authoritative),
    else rebuilt from the modelled fields."""
    if spec.task_json:
        entry: dict[str, Any] = json.loads(spec.task_json)
        return entry
    kind = _TASK_TYPES.get(spec.task_type, "")
    entry = {
        "task_id": task_id,
        "type": kind,
        "entrypoint": (spec.bash_command if kind == "bash" else spec.entrypoint) or None,
        "env": dict(spec.env),
        "call_args": json.loads(spec.call_args_json or "{}"),
    }
    if spec.HasField("http_request"):
        request = spec.http_request
        entry["http_request"] = {
            "method": request.method or "GET",
            "url": request.url,
            "headers": dict(request.headers),
            "body": request.body or None,
            "timeout_seconds": request.timeout_seconds or None,
            "success_status_codes": list(request.success_status_codes) or None,
        }
    return entry


def _time(spec: agent_pb2.TaskSpec, field: str) -> dt.datetime | None:
    if not spec.HasField(field):  # type: ignore[arg-type]
        return None
    stamp = getattr(spec, field)
    return dt.datetime.fromtimestamp(stamp.seconds + stamp.nanos / 1e9, tz=dt.UTC)


def run_context(spec: agent_pb2.TaskSpec, key: agent_pb2.TaskInstanceKey) -> RunContext:
    """The run-level values of the Airflow context."""
    conf = json.loads(spec.conf_json) if spec.conf_json else {}
    return RunContext(
        dag_id=key.dag_id or spec.dag_id,
        run_id=key.run_id or spec.run_id,
        task_id=key.task_id,
        try_number=key.try_number or spec.try_number or 1,
        max_tries=spec.max_tries,
        map_index=key.map_index,
        logical_date=_time(spec, "logical_date"),
        data_interval_start=_time(spec, "data_interval_start"),
        data_interval_end=_time(spec, "data_interval_end"),
        run_type=spec.run_type or "manual",
        conf=conf if isinstance(conf, dict) else {},
    )


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:60] or "task"


class WorkDir:
    """The private folder of one try."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.spec_path = os.path.join(path, "task_spec.json")
        self.outcome_path = os.path.join(path, "outcome.json")
        self.return_value_path = os.path.join(path, "return_value.json")
        self.pushed_dir = os.path.join(path, "pushed_xcom")
        self.inputs_dir = os.path.join(path, "xcom_inputs")
        self.source_dir = os.path.join(path, "dag")

    @classmethod
    def create(cls, root: str | None, key: agent_pb2.TaskInstanceKey) -> WorkDir:
        """A new folder under ``root`` (the system temp folder by default)."""
        parent = root or os.environ.get("TMPDIR") or "/tmp"
        os.makedirs(parent, exist_ok=True)
        while True:
            name = f"leoflow-{_safe(key.task_id)}-try{key.try_number}-{os.urandom(4).hex()}"
            path = os.path.join(parent, name)
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            return cls(path)

    def materialize_source(self, source: str, module: str) -> str:
        """Write the DAG source as ``<module>.py`` for this try; its path."""
        os.makedirs(self.source_dir, exist_ok=True)
        path = os.path.join(self.source_dir, f"{module}.py")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(source)
        return path

    def write_spec(self, spec: RuntimeSpec) -> None:
        """Write the task spec file the runtime reads."""
        contract.write_text_atomic(self.spec_path, spec_file.encode(spec))

    def place_xcom_inputs(self, values: Mapping[str, str]) -> dict[str, str]:
        """``LEOFLOW_XCOM_<PARAM>`` variables; values too large for the environment become
        files the variable points to (``@path``)."""
        env: dict[str, str] = {}
        budget = contract.ENV_TOTAL_XCOM_BUDGET_BYTES
        for param, text in values.items():
            size = len(text.encode("utf-8"))
            if size <= contract.ENV_VALUE_LIMIT_BYTES and size <= budget:
                env[contract.xcom_env_name(param)] = text
                budget -= size
                continue
            os.makedirs(self.inputs_dir, exist_ok=True)
            path = os.path.join(self.inputs_dir, f"{param}.json")
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            env[contract.xcom_env_name(param)] = contract.XCOM_FILE_MARKER + path
        return env

    def pushed_xcoms(self) -> list[tuple[str, str]]:
        """``(key, JSON text)`` of every ``ti.xcom_push``, in call order."""
        pushed: list[tuple[str, str]] = []
        try:
            names = sorted(os.listdir(self.pushed_dir))  # made by the first push
        except FileNotFoundError:
            return pushed
        for name in names:
            if not name.endswith(".xcom"):
                continue
            with open(os.path.join(self.pushed_dir, name), encoding="utf-8") as handle:
                key_line, _, value = handle.read().partition("\n")
            pushed.append((json.loads(key_line), value))
        return pushed

    def read_outcome(self) -> dict[str, Any] | None:
        """The runtime's outcome file, or ``None`` if it wrote none."""
        try:
            with open(self.outcome_path, encoding="utf-8") as handle:
                outcome: dict[str, Any] = json.load(handle)
        except (OSError, ValueError):
            return None
        return outcome

    def read_return_value(self) -> str | None:
        """The JSON text of the return value, or ``None`` when nothing was returned."""
        try:
            with open(self.return_value_path, encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def remove(self) -> None:
        """Delete the folder and everything in it (best effort)."""
        for folder, subfolders, files in os.walk(self.path, topdown=False):
            for name in files:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
            for name in subfolders:
                path = os.path.join(folder, name)
                with contextlib.suppress(OSError):
                    (os.unlink if os.path.islink(path) else os.rmdir)(path)
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


def runtime_spec(
    spec: agent_pb2.TaskSpec,
    *,
    key: agent_pb2.TaskInstanceKey,
    task: dict[str, Any],
    bindings: dict[str, tuple[XComSource, ...]],
    work: WorkDir,
    dag_dir: str,
) -> RuntimeSpec:
    """The task spec file's content (the DAG source is placed by ``with_dag_source``)."""
    module = spec.dag_module or None
    is_python = not spec.dag_file_path or spec.dag_file_path.endswith(".py")
    return RuntimeSpec(
        task=task,
        run=run_context(spec, key),
        dag_module=module if is_python else None,
        dag_source_file=None,
        dag_dir=dag_dir,
        xcom_inputs=bindings,
    )


def with_dag_source(runtime: RuntimeSpec, spec: agent_pb2.TaskSpec, work: WorkDir) -> RuntimeSpec:
    """``runtime`` with the DAG source the server sent materialized for the try to import.

    Not needed by a runtime forked from a runtime template, which imported it already (a
    file less to create and delete for each try).
    """
    if not (spec.dag_source and runtime.dag_module) or runtime.dag_source_file is not None:
        return runtime
    path = work.materialize_source(spec.dag_source, runtime.dag_module)
    return dataclasses.replace(runtime, dag_source_file=path)


def task_environment(
    base: Mapping[str, str],
    *,
    task: dict[str, Any],
    context: RunContext,
    spec: agent_pb2.TaskSpec,
    work: WorkDir,
    xcom_env: Mapping[str, str],
    secrets_env: Mapping[str, str],
    secrets_notice: str | None,
    dag_dir: str,
) -> dict[str, str]:
    """The user process's environment (see the module docstring for the layering)."""
    env = base_environment(base)
    env.update(secrets_env)
    if task.get("type") != "bash":
        env.update({str(k): str(v) for k, v in (task.get("env") or {}).items()})
    env.update(xcom_env)
    env.update(
        {
            contract.CALL_ARGS_JSON: spec.call_args_json or json.dumps(task.get("call_args") or {}),
            contract.RETURN_VALUE_PATH: work.return_value_path,
            contract.DAG_ID: context.dag_id,
            contract.RUN_ID: context.run_id,
            contract.TASK_ID: context.task_id,
            contract.TRY_NUMBER: str(context.try_number),
            contract.LOGICAL_DATE: context.logical_date.isoformat() if context.logical_date else "",
            contract.PARAMS: spec.params_json or "{}",
            contract.TASK_SPEC_PATH: work.spec_path,
            contract.OUTCOME_PATH: work.outcome_path,
            contract.PUSHED_XCOM_DIR: work.pushed_dir,
            contract.WORK_DIR: work.path,
            contract.DAG_DIR: dag_dir,
        }
    )
    if spec.staging_dir:
        env[contract.STAGING_DIR] = spec.staging_dir
    if secrets_notice:
        env[contract.SECRETS_NOTICE] = secrets_notice
    return env
