"""From what the shim recorded to ``dag.json`` fields.

The shim records Airflow-side facts in ``dag.json`` names; this module shapes the few that
differ (a ``timedelta`` schedule, ``Param`` defaults and schemas), adds the module name the
DAG file was imported as, and drops the shim's ``extras`` (where things were defined).
"""

from __future__ import annotations

from typing import Any

from leoflow.compiler.errors import CompileError
from leoflow.spec import SCHEMA_VERSION

_DAG_FIELDS = (
    "dag_id",
    "description",
    "doc_md",
    "owner",
    "tags",
    "schedule",
    "schedule_timezone",
    "start_date",
    "end_date",
    "catchup",
    "max_active_runs",
    "max_active_tasks",
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


def _params(raw: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``params`` (name -> default) and ``params_schema`` (name -> JSON Schema)."""
    defaults: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name, param in (raw or {}).items():
        if "value" in param:
            defaults[name] = param["value"]
        if "schema" in param:
            schemas[name] = param["schema"]
    return defaults, schemas


def translate_task(raw: dict[str, Any]) -> dict[str, Any]:
    """One recorded task as a ``dag.json`` task (unset fields left out).

    Only ``None`` means unset: an empty list can be meaningful (``skip_on_exit_code: []``).
    """
    task = dict(raw)
    task.pop("extras", None)
    return {key: value for key, value in task.items() if value is not None}


def translate_dag(raw: dict[str, Any], source: str, module: str | None) -> dict[str, Any]:
    """One recorded DAG as ``dag.json`` data (before the leoflow.yaml overlay).

    ``module`` is the name the DAG file was imported as (``source_module``).
    """
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    for name in _DAG_FIELDS:
        value = raw.get(name)
        if value is not None and value not in ({}, []):
            data[name] = value
    data["schedule"] = _schedule(raw.get("schedule"), str(raw.get("dag_id")))
    data["params"], data["params_schema"] = _params(raw.get("params") or {})
    if module is not None:
        data["source_module"] = module
    data["source"] = source
    data["tasks"] = [translate_task(task) for task in raw.get("tasks", [])]
    return data
