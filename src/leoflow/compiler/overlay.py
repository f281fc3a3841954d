"""Baking ``leoflow.yaml`` into ``dag.json`` data: metadata, DAG defaults and task overrides.

Precedence (ADR 0017): a ``tasks.<id>`` override > the DAG default (``defaults`` in
leoflow.yaml over ``default_args`` in code) > the platform default. Platform defaults are not
written here: they fill gaps at dispatch, so changing them needs no recompilation.
"""

from __future__ import annotations

from typing import Any

from leoflow.compiler.errors import CompileError
from leoflow.spec import LeoflowYaml, SpecError, check_task_overrides

_DEFAULT_ARG_FIELDS = (
    "retries",
    "retry_delay_seconds",
    "retry_exponential_backoff",
    "execution_timeout_seconds",
)


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", exclude_none=True)


def _metadata(data: dict[str, Any], config: LeoflowYaml) -> None:
    for name in ("description", "owner"):
        value = getattr(config, name)
        if value is not None:
            data[name] = value
    if config.tags:
        data["tags"] = list(config.tags)
    if config.staging is not None:
        data["staging"] = _dump(config.staging)
    if config.xcom_ttl_seconds is not None:
        data["xcom_ttl_seconds"] = config.xcom_ttl_seconds
    if config.python_version is not None or config.dependencies:
        environment: dict[str, Any] = {"dependencies": list(config.dependencies)}
        if config.python_version is not None:
            environment["python_version"] = config.python_version
        data["python_environment"] = environment


def _defaults(data: dict[str, Any], config: LeoflowYaml) -> None:
    if config.defaults is None:
        return
    default_args = dict(data.get("default_args") or {})
    for name in _DEFAULT_ARG_FIELDS:
        value = getattr(config.defaults, name)
        if value is not None:
            default_args[name] = value
    if default_args:
        data["default_args"] = default_args
    if config.defaults.resources is not None:
        resources = _dump(config.defaults.resources)
        for task in data["tasks"]:
            if _runs_in_a_pod(task) and "resources" not in task:
                task["resources"] = resources


def _runs_in_a_pod(task: dict[str, Any]) -> bool:
    if task.get("type") == "empty":
        return False
    return task.get("type") != "http_api" or task.get("execution_mode") == "pod"


def _task_overrides(data: dict[str, Any], config: LeoflowYaml) -> None:
    by_id = {task["task_id"]: task for task in data["tasks"]}
    for task_id, override in config.tasks.items():
        by_id[task_id].update(_dump(override))


def apply_leoflow_yaml(data: dict[str, Any], config: LeoflowYaml) -> dict[str, Any]:
    """``data`` with ``config`` baked in (a new dict; ``data`` is not changed)."""
    result = {**data, "tasks": [dict(task) for task in data["tasks"]]}
    try:
        check_task_overrides(config, [task["task_id"] for task in result["tasks"]])
    except SpecError as exc:
        raise CompileError("config", exc.problems) from None
    _metadata(result, config)
    _task_overrides(result, config)
    _defaults(result, config)
    return result
