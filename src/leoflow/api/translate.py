"""Translation of Leoflow's rows and specs into Airflow-shaped responses.

This module is the anti-corruption layer's dictionary: Leoflow speaks UUIDs, versions, tenants,
task ``type``s and a ``none`` state; Airflow clients expect display names, operator class
names, pools and a ``null`` state. Every such mapping lives here, in one place, so routes stay a
few lines that query and translate.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from leoflow.api.datamodels.common import TimeDelta
from leoflow.api.datamodels.dag_run import (
    DAGRunResponse,
    DagRunState,
    DagRunTriggeredByType,
    DagRunType,
)
from leoflow.api.datamodels.dag_versions import DagVersionResponse
from leoflow.api.datamodels.dags import DAGDetailsResponse, DAGResponse, DagTagResponse
from leoflow.api.datamodels.task_instances import (
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstanceState,
)
from leoflow.api.datamodels.tasks import TaskResponse
from leoflow.api.datamodels.xcom import XComResponse, XComResponseNative, XComResponseString
from leoflow.scheduler.timetables import (
    CronTimetable,
    DeltaTimetable,
    RunSlot,
    ScheduleRestriction,
    Timetable,
    next_once_run,
    next_run,
)
from leoflow.spec import DagSpec, TaskSpec
from leoflow.store.dag_queries import DagRow
from leoflow.store.run_queries import RunRow
from leoflow.store.ti_queries import TiRow, TryRow
from leoflow.store.xcom_queries import XcomRow

DEFAULT_POOL = "default_pool"
DEFAULT_QUEUE = "default"
DEFAULT_MAX_ACTIVE_TASKS = 16
"""What Airflow reports when a DAG sets no ``max_active_tasks`` (its platform default)."""

OPERATOR_NAMES: dict[str, str] = {
    "python": "PythonOperator",
    "bash": "BashOperator",
    "http_api": "HttpOperator",
    "empty": "EmptyOperator",
}
"""The Airflow operator each Leoflow task type stands for."""

TASK_TYPES_BY_OPERATOR: dict[str, str] = {name: kind for kind, name in OPERATOR_NAMES.items()}

_NO_STATE = "none"


def operator_name(task_type: str | None) -> str | None:
    """Airflow's operator class name for a Leoflow task type."""
    if task_type is None:
        return None
    return OPERATOR_NAMES.get(task_type, task_type)


def ti_state(state: str | None) -> TaskInstanceState | None:
    """Leoflow's task state as Airflow's (``none`` is Airflow's null, "no status")."""
    if state is None or state == _NO_STATE:
        return None
    return TaskInstanceState(state)


def triggered_by(value: str | None) -> DagRunTriggeredByType | None:
    """A run's ``triggered_by`` when it is one of Airflow's kinds (free text otherwise)."""
    try:
        return DagRunTriggeredByType(value) if value else None
    except ValueError:
        return None


def file_token(dag_id: str) -> str:
    """An opaque token naming the DAG's source (Airflow signs its file path the same way)."""
    return base64.urlsafe_b64encode(dag_id.encode()).decode().rstrip("=")


def relative_fileloc(dag_id: str, meta: dict[str, Any]) -> str:
    """Where the DAG's source lives in its project, as Airflow shows a DAG file path."""
    module = meta.get("source_module")
    name = f"{module.replace('.', '/')}.py" if isinstance(module, str) else "dag.yaml"
    return f"{dag_id}/{name}"


def version_response(
    dag_id: str, version_id: Any, version_number: int, created_at: datetime
) -> DagVersionResponse:
    """A DAG version; Leoflow versions are pushed artifacts, not bundle checkouts."""
    return DagVersionResponse(
        id=version_id,
        version_number=version_number,
        dag_id=dag_id,
        bundle_name=None,
        bundle_version=None,
        created_at=created_at,
        dag_display_name=dag_id,
        bundle_url=None,
    )


# --- schedules ------------------------------------------------------------------------------


def _parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def timetable_summary(schedule: Any) -> str | None:
    """The schedule as Airflow summarizes it (cron text, preset, or interval)."""
    if schedule is None:
        return None
    if isinstance(schedule, dict) and "interval_seconds" in schedule:
        return str(timedelta(seconds=int(schedule["interval_seconds"])))
    return str(schedule)


def timetable_description(schedule: Any, timezone: str) -> str:
    """A sentence describing when scheduled runs happen."""
    if schedule is None:
        return "Never, external triggers only"
    if schedule == "@once":
        return "Once, as soon as possible"
    if isinstance(schedule, dict) and "interval_seconds" in schedule:
        return f"Every {timedelta(seconds=int(schedule['interval_seconds']))}"
    return f"Cron schedule '{schedule}' in {timezone}"


def next_scheduled_run(
    meta: dict[str, Any], last_logical_date: datetime | None, scheduled_runs: int
) -> RunSlot | None:
    """The next scheduled run of a DAG version, computed as the scheduler would."""
    schedule = meta.get("schedule")
    start_date = _parse_datetime(meta.get("start_date"))
    if schedule is None or start_date is None:
        return None
    if schedule == "@once":
        return next_once_run(start_date, already_ran=scheduled_runs > 0)
    timetable: Timetable
    if isinstance(schedule, dict):
        timetable = DeltaTimetable(
            timedelta(seconds=int(schedule["interval_seconds"])), anchor=start_date
        )
    else:
        timetable = CronTimetable(str(schedule), str(meta.get("schedule_timezone") or "UTC"))
    restriction = ScheduleRestriction(
        start_date, _parse_datetime(meta.get("end_date")), bool(meta.get("catchup", False))
    )
    return next_run(timetable, restriction, last_logical_date, datetime.now(UTC))


# --- DAGs -----------------------------------------------------------------------------------


def _dag_fields(row: DagRow) -> dict[str, Any]:
    meta = row.spec_meta or {}
    schedule = meta.get("schedule")
    timezone = str(meta.get("schedule_timezone") or "UTC")
    try:
        slot = next_scheduled_run(meta, row.last_scheduled_logical_date, row.scheduled_run_count)
    except (ValueError, KeyError):  # a spec the timetables cannot read: no next run shown
        slot = None
    return {
        "dag_id": row.dag_id,
        "dag_display_name": row.dag_id,
        "is_paused": row.is_paused,
        "is_stale": not row.is_active,
        "last_parsed_time": row.version_created_at,
        "last_parse_duration": None,
        "last_expired": None,
        "bundle_name": None,
        "bundle_version": None,
        "relative_fileloc": relative_fileloc(row.dag_id, meta),
        "fileloc": relative_fileloc(row.dag_id, meta),
        "description": row.description if row.description is not None else meta.get("description"),
        "timetable_summary": timetable_summary(schedule),
        "timetable_description": timetable_description(schedule, timezone),
        "timetable_partitioned": False,
        "timetable_periodic": schedule is not None and schedule != "@once",
        "tags": [
            DagTagResponse(name=tag, dag_id=row.dag_id, dag_display_name=row.dag_id)
            for tag in sorted(row.tags)
        ],
        "max_active_tasks": int(meta.get("max_active_tasks") or DEFAULT_MAX_ACTIVE_TASKS),
        "max_active_runs": meta.get("max_active_runs", 16),
        "max_consecutive_failed_dag_runs": 0,
        "has_task_concurrency_limits": False,
        "has_import_errors": row.has_import_errors,
        "next_dagrun_logical_date": slot.logical_date if slot else None,
        "next_dagrun_data_interval_start": slot.data_interval_start if slot else None,
        "next_dagrun_data_interval_end": slot.data_interval_end if slot else None,
        "next_dagrun_run_after": slot.run_after if slot else None,
        "allowed_run_types": None,
        "owners": list(row.owners),
        "is_backfillable": False,
        "file_token": file_token(row.dag_id),
    }


def dag_response(row: DagRow) -> DAGResponse:
    """What the DAG list shows about one DAG."""
    return DAGResponse(**_dag_fields(row))


def _params(meta: dict[str, Any]) -> dict[str, Any]:
    """Run parameters in Airflow's serialized ``Param`` form (the trigger form reads it)."""
    defaults: dict[str, Any] = meta.get("params") or {}
    schemas: dict[str, Any] = meta.get("params_schema") or {}
    params: dict[str, Any] = {}
    for name in [*defaults, *(n for n in schemas if n not in defaults)]:
        schema = dict(schemas.get(name) or {})
        params[name] = {
            "value": defaults.get(name),
            "schema": schema,
            "description": schema.get("description"),
            "source": None,
        }
    return params


def dag_details_response(row: DagRow) -> DAGDetailsResponse:
    """Everything about one DAG."""
    meta = row.spec_meta or {}
    fields = _dag_fields(row)
    default_args = {k: v for k, v in (meta.get("default_args") or {}).items() if v is not None}
    latest = (
        version_response(
            row.dag_id, row.latest_version_id, row.version_number, row.version_created_at
        )
        if row.latest_version_id and row.version_number and row.version_created_at
        else None
    )
    return DAGDetailsResponse(
        **fields,
        catchup=bool(meta.get("catchup", False)),
        dag_run_timeout=None,
        asset_expression=None,
        doc_md=meta.get("doc_md"),
        start_date=_parse_datetime(meta.get("start_date")),
        end_date=_parse_datetime(meta.get("end_date")),
        is_paused_upon_creation=None,
        params=_params(meta),
        render_template_as_native_obj=False,
        template_search_path=None,
        timezone=str(meta.get("schedule_timezone") or "UTC"),
        last_parsed=row.version_created_at,
        default_args=default_args,
        rerun_with_latest_version=True,
        owner_links={},
        is_favorite=row.is_favorite,
        active_runs_count=row.active_runs_count,
        concurrency=fields["max_active_tasks"],
        latest_dag_version=latest,
    )


# --- runs -----------------------------------------------------------------------------------


def dag_run_response(row: RunRow) -> DAGRunResponse:
    """One DAG run."""
    return DAGRunResponse(
        dag_run_id=row.run_id,
        dag_id=row.dag_id,
        logical_date=row.logical_date,
        queued_at=row.queued_at,
        start_date=row.start_date,
        end_date=row.end_date,
        duration=row.duration,
        data_interval_start=row.data_interval_start,
        data_interval_end=row.data_interval_end,
        run_after=row.run_after,
        last_scheduling_decision=None,
        run_type=DagRunType(row.run_type),
        state=DagRunState(row.state),
        triggered_by=triggered_by(row.triggered_by),
        triggering_user_name=row.triggering_user_name,
        conf=row.conf,
        note=row.note,
        dag_versions=[
            version_response(
                row.dag_id, row.dag_version_id, row.version_number, row.version_created_at
            )
        ],
        bundle_version=None,
        dag_display_name=row.dag_id,
        partition_key=None,
        partition_date=None,
    )


# --- task instances -------------------------------------------------------------------------


def _try_fields(row: TiRow | TryRow) -> dict[str, Any]:
    operator = operator_name(row.task_type)
    return {
        "task_id": row.task_id,
        "dag_id": row.dag_id,
        "dag_run_id": row.run_id,
        "map_index": row.map_index,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "duration": row.duration,
        "state": ti_state(row.state),
        "try_number": row.try_number,
        "max_tries": row.max_tries,
        "task_display_name": row.task_id,
        "dag_display_name": row.dag_id,
        "hostname": row.hostname,
        "unixname": None,
        "pool": DEFAULT_POOL,
        "pool_slots": 1,
        "queue": DEFAULT_QUEUE,
        "priority_weight": 1,
        "operator": operator,
        "operator_name": operator,
        "queued_when": row.queued_at,
        "scheduled_when": None,
        "pid": row.pid,
        "executor": row.executor,
        "executor_config": "{}",
        "dag_version": version_response(
            row.dag_id, row.dag_version_id, row.version_number, row.version_created_at
        ),
    }


def task_instance_response(row: TiRow) -> TaskInstanceResponse:
    """One task instance (its current try)."""
    return TaskInstanceResponse(
        id=row.id,
        logical_date=row.logical_date,
        run_after=row.run_after,
        note=row.note,
        rendered_map_index=None,
        rendered_fields=row.rendered_fields or {},
        trigger=None,
        triggerer_job=None,
        **_try_fields(row),
    )


def try_response(row: TryRow) -> TaskInstanceHistoryResponse:
    """One try of a task instance."""
    return TaskInstanceHistoryResponse(**_try_fields(row))


# --- tasks ----------------------------------------------------------------------------------


def task_response(spec: DagSpec, task: TaskSpec) -> TaskResponse:
    """One task as its DAG version declares it (task value, else the DAG's ``default_args``)."""
    defaults = spec.default_args
    retries = task.retries if task.retries is not None else defaults.retries
    delay = (
        task.retry_delay_seconds
        if task.retry_delay_seconds is not None
        else defaults.retry_delay_seconds
    )
    timeout = (
        task.execution_timeout_seconds
        if task.execution_timeout_seconds is not None
        else defaults.execution_timeout_seconds
    )
    backoff = task.retry_exponential_backoff
    if backoff is None:
        backoff = defaults.retry_exponential_backoff
    operator = operator_name(task.type.value)
    return TaskResponse(
        task_id=task.task_id,
        task_display_name=task.task_id,
        owner=spec.owner,
        start_date=spec.start_date,
        end_date=spec.end_date,
        trigger_rule=task.trigger_rule.value,
        depends_on_past=False,
        wait_for_downstream=False,
        retries=float(retries) if retries is not None else 0.0,
        queue=DEFAULT_QUEUE,
        pool=DEFAULT_POOL,
        pool_slots=1.0,
        execution_timeout=TimeDelta.of(timeout),
        retry_delay=TimeDelta.of(delay),
        retry_exponential_backoff=2.0 if backoff else 0.0,
        priority_weight=1.0,
        weight_rule="downstream",
        ui_color=None,
        ui_fgcolor=None,
        template_fields=_template_fields(task.type.value),
        downstream_task_ids=sorted(spec.downstream_of(task.task_id)),
        doc_md=task.doc_md,
        operator_name=operator,
        params=_params(spec.model_dump(mode="json", include={"params", "params_schema"})),
        class_ref={"module_path": "leoflow", "class_name": operator},
        is_mapped=False,
        extra_links=[],
    )


def _template_fields(task_type: str) -> list[str]:
    if task_type == "bash":
        return ["bash_command", "env", "cwd"]
    if task_type == "python":
        return ["op_args", "op_kwargs"]
    return []


# --- XCom -----------------------------------------------------------------------------------


def _xcom_fields(row: XcomRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "timestamp": row.created_at,
        "logical_date": row.logical_date,
        "map_index": row.map_index,
        "task_id": row.task_id,
        "dag_id": row.dag_id,
        "run_id": row.run_id,
        "dag_display_name": row.dag_id,
        "task_display_name": row.task_id,
        "run_after": row.run_after,
    }


def xcom_response(row: XcomRow) -> XComResponse:
    """An XCom entry without its value."""
    return XComResponse(**_xcom_fields(row))


def xcom_value(row: XcomRow) -> Any:
    """The stored value: JSON is decoded, anything else is returned as text."""
    text = bytes(row.value).decode("utf-8", errors="replace")
    if row.content_type.startswith("application/json"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def xcom_entry_response(
    row: XcomRow, *, stringify: bool
) -> XComResponseNative | XComResponseString:
    """An XCom entry with its value, as JSON or (``stringify``) as Airflow's text form."""
    value = xcom_value(row)
    if stringify:
        return XComResponseString(**_xcom_fields(row), value=None if value is None else str(value))
    return XComResponseNative(**_xcom_fields(row), value=value)
