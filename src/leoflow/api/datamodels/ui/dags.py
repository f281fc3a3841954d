"""``/ui/dags`` models: the DAG list rows with their latest runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import computed_field

from leoflow.api.datamodels.common import BaseModel
from leoflow.api.datamodels.dag_run import DagRunState
from leoflow.api.datamodels.dags import DAGResponse


class DAGRunLightResponse(BaseModel):
    """A run as the DAG list's bar chart and the DAG header show it."""

    id: int
    dag_id: str
    run_id: str
    logical_date: datetime | None
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None
    state: DagRunState

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration(self) -> float | None:
        """Seconds from start to end, once both are known."""
        if self.end_date and self.start_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


class DAGWithLatestDagRunsResponse(DAGResponse):
    """One row of the DAG list."""

    asset_expression: dict[str, Any] | None
    latest_dag_runs: list[DAGRunLightResponse]
    pending_actions: list[dict[str, Any]]
    is_favorite: bool


class DAGWithLatestDagRunsCollectionResponse(BaseModel):
    """A page of the DAG list."""

    total_entries: int
    dags: list[DAGWithLatestDagRunsResponse]


class DurationStats(BaseModel):
    """Duration statistics over a DAG's finished runs."""

    mean: float
    mode: float | None
    p50: float
    p90: float
    p95: float
    p99: float


class DagRunStatsResponse(BaseModel):
    """Statistics shown beside a run."""

    duration: DurationStats | None
