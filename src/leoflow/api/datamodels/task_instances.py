"""Task instance models (Airflow's ``TaskInstanceResponse``, ``ClearTaskInstancesBody`` …)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import AwareDatetime, Field, field_validator, model_validator

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel
from leoflow.api.datamodels.dag_versions import DagVersionResponse


class TaskInstanceState(StrEnum):
    """State of a task instance as Airflow names them (``null`` is "no status")."""

    REMOVED = "removed"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    RESTARTING = "restarting"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    DEFERRED = "deferred"
    AWAITING_INPUT = "awaiting_input"


class JobResponse(BaseModel):
    """A job (a scheduler, a triggerer …) of the deployment."""

    id: int
    dag_id: str | None
    state: str | None
    job_type: str | None
    start_date: datetime | None
    end_date: datetime | None
    latest_heartbeat: datetime | None
    executor_class: str | None
    hostname: str | None
    unixname: str | None
    dag_display_name: str | None = None


class JobCollectionResponse(BaseModel):
    """A page of jobs."""

    jobs: list[JobResponse]
    total_entries: int


class TriggerResponse(BaseModel):
    """The trigger a deferred task waits on."""

    id: int
    classpath: str
    kwargs_: str = Field(alias="kwargs")
    created_date: datetime
    queue: str | None
    triggerer_id: int | None


class TaskInstanceResponse(BaseModel):
    """One task instance (its current try)."""

    id: UUID
    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    logical_date: datetime | None
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    note: str | None
    rendered_map_index: str | None
    rendered_fields: dict[str, Any] = Field(default_factory=dict)
    trigger: TriggerResponse | None
    triggerer_job: JobResponse | None
    dag_version: DagVersionResponse | None


class TaskInstanceCollectionResponse(BaseModel):
    """A page of task instances."""

    task_instances: list[TaskInstanceResponse]
    total_entries: int | None = None
    total_entries_limit: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


class ClearTaskInstanceCollectionResponse(BaseModel):
    """The task instances a dry-run clear would reset."""

    task_instances: list[TaskInstanceResponse]
    total_entries: int


class TaskInstanceHistoryResponse(BaseModel):
    """One try of a task instance."""

    task_id: str
    dag_id: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskInstanceState | None
    try_number: int
    max_tries: int
    task_display_name: str
    dag_display_name: str
    hostname: str | None
    unixname: str | None
    pool: str
    pool_slots: int
    queue: str | None
    priority_weight: int | None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None
    pid: int | None
    executor: str | None
    executor_config: str
    dag_version: DagVersionResponse | None


class TaskInstanceHistoryCollectionResponse(BaseModel):
    """Every try of a task instance."""

    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


_MARKABLE = ("success", "failed", "skipped")


class PatchTaskInstanceBody(StrictBaseModel):
    """Mark a task instance (and optionally its relatives) or change its note."""

    new_state: TaskInstanceState | None = None
    note: str | None = Field(default=None, max_length=1000)
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False

    @field_validator("new_state", mode="before")
    @classmethod
    def _markable(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("'new_state' should not be empty")
        state = str(value).lower()
        if state not in _MARKABLE:
            raise ValueError(f"'{state}' is not one of {list(_MARKABLE)}")
        return state


class ClearTaskInstancesBody(StrictBaseModel):
    """Which task instances to clear (Airflow's ``clearTaskInstances`` options)."""

    dry_run: bool = True
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    task_ids: list[str | tuple[str, int]] | None = Field(
        default=None,
        description="A list of `task_id` or [`task_id`, `map_index`]. If only the `task_id` is "
        "provided for a mapped task, all of its map indices will be targeted.",
    )
    dag_run_id: str | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    run_on_latest_version: bool | None = None
    prevent_running_task: bool = False
    note: str | None = Field(default=None, max_length=1000)

    @model_validator(mode="before")
    @classmethod
    def _consistent(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if data.get("only_failed") and data.get("only_running"):
            raise ValueError("only_failed and only_running both are set to True")
        start, end, run_id = data.get("start_date"), data.get("end_date"), data.get("dag_run_id")
        if start and end and str(start) > str(end):
            raise ValueError("end_date is sooner than start_date")
        if start and end and run_id:
            raise ValueError(
                "Exactly one of dag_run_id or (start_date and end_date) must be provided"
            )
        if start and run_id:
            raise ValueError("Exactly one of dag_run_id or start_date must be provided")
        if end and run_id:
            raise ValueError("Exactly one of dag_run_id or end_date must be provided")
        task_ids = data.get("task_ids")
        if isinstance(task_ids, list) and not task_ids:
            raise ValueError("task_ids list should have at least 1 element.")
        return data


class TaskInstancesBatchBody(StrictBaseModel):
    """Filters of ``POST …/taskInstances/list``."""

    dag_ids: list[str] | None = None
    dag_run_ids: list[str] | None = None
    task_ids: list[str] | None = None
    state: list[TaskInstanceState | None] | None = None
    run_after_gte: AwareDatetime | None = None
    run_after_gt: AwareDatetime | None = None
    run_after_lte: AwareDatetime | None = None
    run_after_lt: AwareDatetime | None = None
    logical_date_gte: AwareDatetime | None = None
    logical_date_gt: AwareDatetime | None = None
    logical_date_lte: AwareDatetime | None = None
    logical_date_lt: AwareDatetime | None = None
    start_date_gte: AwareDatetime | None = None
    start_date_gt: AwareDatetime | None = None
    start_date_lte: AwareDatetime | None = None
    start_date_lt: AwareDatetime | None = None
    end_date_gte: AwareDatetime | None = None
    end_date_gt: AwareDatetime | None = None
    end_date_lte: AwareDatetime | None = None
    end_date_lt: AwareDatetime | None = None
    duration_gte: float | None = None
    duration_gt: float | None = None
    duration_lte: float | None = None
    duration_lt: float | None = None
    pool: list[str] | None = None
    queue: list[str] | None = None
    executor: list[str] | None = None
    page_offset: int = Field(default=0, ge=0)
    page_limit: int = Field(default=100, ge=0)
    order_by: str | None = None


class TaskDependencyResponse(BaseModel):
    """Why a task instance cannot run yet."""

    name: str
    reason: str


class TaskDependencyCollectionResponse(BaseModel):
    """Every unmet dependency of a task instance."""

    dependencies: list[TaskDependencyResponse]


class ExtraLinkCollectionResponse(BaseModel):
    """Operator extra links of a task instance."""

    extra_links: dict[str, str | None]
    total_entries: int


class BulkTaskInstanceBody(PatchTaskInstanceBody):
    """Request body for bulk update, and delete task instances."""

    task_id: str
    map_index: int | None = None
    dag_id: str | None = None
    dag_run_id: str | None = None

    def patch_body(self) -> PatchTaskInstanceBody:
        """The single-instance patch this entity stands for (the fields it set stay set)."""
        fields = self.model_fields_set & set(PatchTaskInstanceBody.model_fields)
        return PatchTaskInstanceBody.model_construct(
            _fields_set=fields, **{name: getattr(self, name) for name in fields}
        )
