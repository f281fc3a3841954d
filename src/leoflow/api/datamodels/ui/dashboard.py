"""Dashboard models."""

from __future__ import annotations

from leoflow.api.datamodels.common import BaseModel


class DashboardDagStatsResponse(BaseModel):
    """The counters at the top of the dashboard."""

    active_dag_count: int
    failed_dag_count: int
    running_dag_count: int
    queued_dag_count: int


class DAGRunStates(BaseModel):
    """Runs per state in a time window."""

    queued: int = 0
    running: int = 0
    success: int = 0
    failed: int = 0


class TaskInstanceStateCount(BaseModel):
    """Task instances per state in a time window (Airflow's full list of states)."""

    no_status: int = 0
    removed: int = 0
    scheduled: int = 0
    queued: int = 0
    running: int = 0
    success: int = 0
    restarting: int = 0
    failed: int = 0
    up_for_retry: int = 0
    up_for_reschedule: int = 0
    upstream_failed: int = 0
    skipped: int = 0
    deferred: int = 0
    awaiting_input: int = 0


class HistoricalMetricDataResponse(BaseModel):
    """The dashboard's history bars."""

    dag_run_states: DAGRunStates
    task_instance_states: TaskInstanceStateCount
    dag_run_counts_are_lower_bounds: bool = False
    task_instance_counts_are_lower_bounds: bool = False
