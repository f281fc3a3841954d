"""Grid, graph, Gantt and calendar models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from leoflow.api.datamodels.common import BaseModel
from leoflow.api.datamodels.dag_run import DagRunState, DagRunType
from leoflow.api.datamodels.dag_versions import DagVersionResponse
from leoflow.api.datamodels.task_instances import TaskInstanceState

NodeType = Literal[
    "join",
    "task",
    "asset-condition",
    "asset",
    "asset-alias",
    "asset-name-ref",
    "asset-uri-ref",
    "dag",
    "sensor",
    "trigger",
]


class GridNodeResponse(BaseModel):
    """A row of the grid (a task; groups would carry children)."""

    id: str
    label: str
    children: list[GridNodeResponse] | None = None
    is_mapped: bool | None
    setup_teardown_type: Literal["setup", "teardown"] | None = None
    doc_md: str | None = None


class GridRunsResponse(BaseModel):
    """A column of the grid."""

    dag_id: str
    run_id: str
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    run_after: datetime
    state: DagRunState | None
    run_type: DagRunType
    dag_versions: list[DagVersionResponse] = []
    has_missed_deadline: bool
    has_note: bool
    duration: float


class LightGridTaskInstanceSummary(BaseModel):
    """A cell of the grid."""

    task_id: str
    task_display_name: str
    state: TaskInstanceState | None
    child_states: dict[str, int] | None
    min_start_date: datetime | None
    max_end_date: datetime | None
    dag_version_number: int | None = None
    has_note: bool = False


class GridTISummaries(BaseModel):
    """The cells of one grid column (one NDJSON line)."""

    run_id: str
    dag_id: str
    task_instances: list[LightGridTaskInstanceSummary]


class EdgeResponse(BaseModel):
    """An edge of the graph."""

    source_id: str
    target_id: str
    is_setup_teardown: bool | None = None
    label: str | None = None
    is_source_asset: bool | None = None


class NodeResponse(BaseModel):
    """A node of the graph."""

    id: str
    label: str
    type: NodeType
    team: str | None = None
    children: list[NodeResponse] | None = None
    is_mapped: bool | None = None
    tooltip: str | None = None
    setup_teardown_type: Literal["setup", "teardown"] | None = None
    operator: str | None = None
    asset_condition_type: Literal["or-gate", "and-gate"] | None = None


class StructureDataResponse(BaseModel):
    """The graph of a DAG version."""

    edges: list[EdgeResponse]
    nodes: list[NodeResponse]


class BaseNodeResponse(BaseModel):
    """A node of the dependency graph."""

    id: str
    label: str
    type: NodeType
    team: str | None = None


class BaseEdgeResponse(BaseModel):
    """An edge of the dependency graph."""

    source_id: str
    target_id: str


class BaseGraphResponse(BaseModel):
    """The cross-DAG dependency graph."""

    edges: list[BaseEdgeResponse]
    nodes: list[BaseNodeResponse]


class GanttTaskInstance(BaseModel):
    """A bar of the Gantt chart (one try of a task)."""

    task_id: str
    task_display_name: str
    try_number: int
    state: TaskInstanceState | None
    scheduled_dttm: datetime | None
    queued_dttm: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    is_group: bool = False
    is_mapped: bool = False


class GanttResponse(BaseModel):
    """The Gantt chart of a run."""

    dag_id: str
    run_id: str
    task_instances: list[GanttTaskInstance]


class CalendarTimeRangeResponse(BaseModel):
    """How many runs were in one state in one hour or day."""

    date: datetime
    state: Literal["queued", "running", "success", "failed", "planned"]
    count: int


class CalendarTimeRangeCollectionResponse(BaseModel):
    """The calendar of a DAG."""

    total_entries: int
    dag_runs: list[CalendarTimeRangeResponse]
