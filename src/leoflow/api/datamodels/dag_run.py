"""DAG run models (Airflow's ``DAGRunResponse``, ``TriggerDAGRunPostBody`` …)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import AwareDatetime, Field, model_validator

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel
from leoflow.api.datamodels.dag_versions import DagVersionResponse


class DagRunState(StrEnum):
    """State of a DAG run."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunMutableStates(StrEnum):
    """States a person may set on a DAG run."""

    QUEUED = "queued"
    SUCCESS = "success"
    FAILED = "failed"


class DagRunType(StrEnum):
    """How a run came to be."""

    BACKFILL = "backfill"
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    OPERATOR_TRIGGERED = "operator_triggered"
    ASSET_TRIGGERED = "asset_triggered"
    ASSET_MATERIALIZATION = "asset_materialization"


class DagRunTriggeredByType(StrEnum):
    """What triggered a run."""

    CLI = "cli"
    OPERATOR = "operator"
    REST_API = "rest_api"
    UI = "ui"
    TEST = "test"
    TIMETABLE = "timetable"
    ASSET = "asset"
    BACKFILL = "backfill"


class DAGRunResponse(BaseModel):
    """One DAG run."""

    dag_run_id: str
    dag_id: str
    logical_date: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    last_scheduling_decision: datetime | None
    run_type: DagRunType
    state: DagRunState
    triggered_by: DagRunTriggeredByType | None
    triggering_user_name: str | None
    conf: dict[str, Any] | None
    note: str | None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None
    dag_display_name: str
    partition_key: str | None
    partition_date: datetime | None


class DAGRunCollectionResponse(BaseModel):
    """A page of DAG runs."""

    dag_runs: list[DAGRunResponse]
    total_entries: int | None = None
    total_entries_limit: int | None = None
    next_cursor: str | None = None
    previous_cursor: str | None = None


class TriggerDAGRunPostBody(StrictBaseModel):
    """What a trigger may say about the new run; ``logical_date`` must be present (may be null)."""

    dag_run_id: str | None = None
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    logical_date: AwareDatetime | None
    run_after: datetime | None = None
    conf: dict[str, Any] | None = Field(default_factory=dict)
    note: str | None = None
    partition_key: str | None = None

    @model_validator(mode="after")
    def _check_data_intervals(self) -> Self:
        if (self.data_interval_start is None) != (self.data_interval_end is None):
            raise ValueError(
                "Either both data_interval_start and data_interval_end must be provided "
                "or both must be None"
            )
        return self


class DAGRunPatchBody(StrictBaseModel):
    """What ``PATCH …/dagRuns/{run}`` may change."""

    state: DagRunMutableStates | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunClearBody(StrictBaseModel):
    """Options of ``POST …/dagRuns/{run}/clear``."""

    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    run_on_latest_version: bool | None = None
    note: str | None = Field(default=None, max_length=1000)


class DAGRunsBatchBody(StrictBaseModel):
    """Filters of ``POST /dags/~/dagRuns/list``."""

    order_by: str | None = None
    page_offset: int = Field(default=0, ge=0)
    page_limit: int = Field(default=100, ge=0)
    dag_ids: list[str] | None = None
    states: list[DagRunState | None] | None = None
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
    conf_contains: str | None = None


class BulkDAGRunBody(StrictBaseModel):
    """Request body for bulk operations on Dag Runs."""

    dag_run_id: str
    dag_id: str | None = None
    state: DagRunMutableStates | None = None
    note: str | None = Field(default=None, max_length=1000)


class BulkDAGRunClearBody(StrictBaseModel):
    """Request body for the bulk clear Dag Runs endpoint."""

    partition_key: str | None = None
    partition_date_start: datetime | None = None
    partition_date_end: datetime | None = None
    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    run_on_latest_version: bool | None = None
    note: str | None = Field(default=None, max_length=1000)
    dag_runs: list[BulkDAGRunBody] = Field(default_factory=list)

    @property
    def has_partition_selectors(self) -> bool:
        """Whether runs are selected by partition rather than listed."""
        return any(
            v is not None
            for v in (self.partition_key, self.partition_date_start, self.partition_date_end)
        )
