"""DAG models (Airflow's ``DAGResponse``, ``DAGDetailsResponse``, ``DAGPatchBody`` …)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel
from leoflow.api.datamodels.dag_run import DagRunType
from leoflow.api.datamodels.dag_versions import DagVersionResponse


class DagTagResponse(BaseModel):
    """A tag of a DAG."""

    name: str
    dag_id: str
    dag_display_name: str


class DAGResponse(BaseModel):
    """What the DAG list shows about one DAG."""

    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None
    last_parse_duration: float | None
    last_expired: datetime | None
    bundle_name: str | None
    bundle_version: str | None
    relative_fileloc: str | None
    fileloc: str
    description: str | None
    timetable_summary: str | None
    timetable_description: str | None
    timetable_partitioned: bool
    timetable_periodic: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int
    has_task_concurrency_limits: bool
    has_import_errors: bool
    next_dagrun_logical_date: datetime | None
    next_dagrun_data_interval_start: datetime | None
    next_dagrun_data_interval_end: datetime | None
    next_dagrun_run_after: datetime | None
    allowed_run_types: list[DagRunType] | None
    owners: list[str]
    is_backfillable: bool
    file_token: str


class DAGDetailsResponse(DAGResponse):
    """Everything about one DAG (the DAG page frame and the trigger form read it)."""

    catchup: bool
    dag_run_timeout: timedelta | None
    asset_expression: dict[str, Any] | None
    doc_md: str | None
    start_date: datetime | None
    end_date: datetime | None
    is_paused_upon_creation: bool | None
    params: dict[str, Any] | None
    render_template_as_native_obj: bool
    template_search_path: list[str] | None
    timezone: str | None
    last_parsed: datetime | None
    default_args: dict[str, Any] | None
    rerun_with_latest_version: bool | None = None
    owner_links: dict[str, str] | None = None
    is_favorite: bool = False
    active_runs_count: int = 0
    concurrency: int
    latest_dag_version: DagVersionResponse | None


class DAGCollectionResponse(BaseModel):
    """A page of DAGs."""

    dags: list[DAGResponse]
    total_entries: int


class DAGPatchBody(StrictBaseModel):
    """What ``PATCH /dags`` may change."""

    is_paused: bool


class DAGTagCollectionResponse(BaseModel):
    """A page of distinct tag names."""

    tags: list[str]
    total_entries: int


class DagStatsStateResponse(BaseModel):
    """How many runs of a DAG are in one state."""

    state: str
    count: int


class DagStatsResponse(BaseModel):
    """Run counts of one DAG, per state."""

    dag_id: str
    dag_display_name: str
    stats: list[DagStatsStateResponse]


class DagStatsCollectionResponse(BaseModel):
    """Run counts of several DAGs."""

    dags: list[DagStatsResponse]
    total_entries: int


class DAGWarningResponse(BaseModel):
    """A warning about a DAG's definition."""

    dag_id: str
    warning_type: str
    message: str
    timestamp: datetime
    dag_display_name: str


class DAGWarningCollectionResponse(BaseModel):
    """A page of DAG warnings."""

    dag_warnings: list[DAGWarningResponse] = Field(default_factory=list)
    total_entries: int = 0
