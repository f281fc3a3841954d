"""The ``TaskSpec`` an agent receives: the task's dag.json entry with every default resolved,
plus the run context the runtime builds the Airflow context from.

Precedence is applied here once (task > DAG ``default_args`` > platform), so the agent never
needs to know it. Params are merged with the run's ``conf`` as Airflow does
(``dag_run_conf_overrides_params``): conf keys override the DAG's defaults and are added.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from leoflow.scheduler.dag_catalog import CompiledDag
from leoflow.spec import TaskSpec
from leoflow.spec.task_spec import TaskType
from leoflow.store.task_context import TaskTry
from leoflow_sdk.protocol import agent_pb2

_TASK_TYPES = {
    TaskType.PYTHON: agent_pb2.TASK_TYPE_PYTHON,
    TaskType.BASH: agent_pb2.TASK_TYPE_BASH,
    TaskType.HTTP_API: agent_pb2.TASK_TYPE_HTTP_API,
    TaskType.EMPTY: agent_pb2.TASK_TYPE_EMPTY,
}


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def merged_params(compiled: CompiledDag, conf: dict[str, Any]) -> dict[str, Any]:
    """The run's params: DAG defaults overridden (and extended) by the run's conf."""
    params: dict[str, Any] = dict(compiled.spec.params)
    params.update(conf or {})
    return params


def _http_request(task: TaskSpec) -> agent_pb2.HttpRequestSpec | None:
    request = task.http_request
    if request is None:
        return None
    body = request.body
    return agent_pb2.HttpRequestSpec(
        method=request.method,
        url=request.url,
        headers=dict(request.headers),
        body="" if body is None else body if isinstance(body, str) else _json(body),
        timeout_seconds=float(request.timeout_seconds or 0.0),
        success_status_codes=list(request.success_status_codes or ()),
    )


def _xcom_input(task: TaskSpec) -> dict[str, agent_pb2.XComInputBinding]:
    bindings: dict[str, agent_pb2.XComInputBinding] = {}
    for param, pulls in task.xcom_pulls().items():
        refs = [
            agent_pb2.XComRef(task_id=p.task_id, key="" if p.key == "return_value" else p.key)
            for p in pulls
        ]
        bindings[param] = agent_pb2.XComInputBinding(
            upstream_task_ids=[p.task_id for p in pulls], refs=refs
        )
    return bindings


def build_task_spec(
    compiled: CompiledDag,
    ti: TaskTry,
    *,
    xcom_max_size_bytes: int,
    staging_dir: str | None = None,
) -> agent_pb2.TaskSpec:
    """The resolved spec of ``ti``'s current try."""
    task = compiled.tasks[ti.task_id]
    spec = compiled.spec
    timeout = compiled.execution_timeout(ti.task_id)
    module = spec.source_module or ""
    message = agent_pb2.TaskSpec(
        task_type=_TASK_TYPES[task.type],
        entrypoint=(task.entrypoint or "") if task.type is TaskType.PYTHON else "",
        bash_command=(task.entrypoint or "") if task.type is TaskType.BASH else "",
        env=dict(task.env),
        call_args_json=_json(task.call_args),
        xcom_input=_xcom_input(task),
        execution_timeout_seconds=float(timeout or 0.0),
        retries=compiled.retry_policy(ti.task_id).retries,
        params_json=_json(merged_params(compiled, ti.conf)),
        dag_source=spec.source if spec.source_module else "",
        dag_file_path=module.replace(".", "/") + ".py" if module else "",
        dag_module=module,
        staging_dir=staging_dir or "",
        dag_version=spec.dag_version or "",
        task_json=_json(compiled.task_payload(ti.task_id)),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        conf_json=_json(ti.conf or {}),
        run_type=ti.run_type,
        try_number=ti.try_number,
        max_tries=ti.max_tries,
        xcom_max_size_bytes=xcom_max_size_bytes,
    )
    request = _http_request(task)
    if request is not None:
        message.http_request.CopyFrom(request)
    for name, value in (
        ("logical_date", ti.logical_date),
        ("data_interval_start", ti.data_interval_start),
        ("data_interval_end", ti.data_interval_end),
    ):
        stamp = _timestamp(value)
        if stamp is not None:
            getattr(message, name).CopyFrom(stamp)
    return message
