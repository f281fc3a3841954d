"""From what the shim recorded to ``dag.json`` fields.

The shim records Airflow-side facts in ``dag.json`` names where they exist, plus ``extras``
for facts the schema has no field for. This module decides each extra: BashOperator ``cwd``
becomes a ``cd`` before the command (same effect, same failure when the folder is missing);
documentation is left out of the artifact (it changes nothing at run time).
"""

from __future__ import annotations

import shlex
from typing import Any

from leoflow.compiler.errors import CompileError
from leoflow.spec import SCHEMA_VERSION

_DAG_FIELDS = (
    "dag_id",
    "description",
    "owner",
    "tags",
    "schedule",
    "schedule_timezone",
    "start_date",
    "end_date",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
    "params",
    "default_args",
)


def _schedule(raw: Any, dag_id: str) -> Any:
    if not isinstance(raw, dict):
        return raw
    seconds = raw["every_seconds"]
    if not isinstance(seconds, int) or seconds < 1:
        raise CompileError(
            "dag",
            [
                f"DAG '{dag_id}': schedule timedelta of {seconds} s is not a whole number of "
                "seconds >= 1; use a whole number of seconds or a cron expression"
            ],
        )
    return {"interval_seconds": seconds}


def _bash_entrypoint(task: dict[str, Any], extras: dict[str, Any]) -> str:
    command = str(task["entrypoint"])
    cwd = (extras.get("bash") or {}).get("cwd")
    if cwd:
        return f"cd -- {shlex.quote(str(cwd))} || exit 1\n{command}"
    return command


def translate_task(raw: dict[str, Any]) -> dict[str, Any]:
    """One recorded task as a ``dag.json`` task (unset fields left out)."""
    task = dict(raw)
    extras = task.pop("extras", {}) or {}
    if task.get("type") == "bash":
        task["entrypoint"] = _bash_entrypoint(task, extras)
    return {
        key: value for key, value in task.items() if value is not None and value not in ({}, [])
    }


def translate_dag(raw: dict[str, Any], source: str) -> dict[str, Any]:
    """One recorded DAG as ``dag.json`` data (before the leoflow.yaml overlay)."""
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name in _DAG_FIELDS:
        value = raw.get(name)
        if value is not None and value not in ({}, []):
            data[name] = value
    data["schedule"] = _schedule(raw.get("schedule"), str(raw.get("dag_id")))
    data["params"] = {
        name: param.get("value") if isinstance(param, dict) else param
        for name, param in (raw.get("params") or {}).items()
    }
    data["source"] = source
    data["tasks"] = [translate_task(task) for task in raw.get("tasks", [])]
    return data
