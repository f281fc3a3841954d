"""Task models (Airflow's ``TaskResponse``), read from a DAG version's spec."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leoflow.api.datamodels.common import BaseModel, TimeDelta


class TaskResponse(BaseModel):
    """One task of a DAG as declared in its latest version."""

    task_id: str | None
    task_display_name: str | None
    owner: str | None
    start_date: datetime | None
    end_date: datetime | None
    trigger_rule: str | None
    depends_on_past: bool
    wait_for_downstream: bool
    retries: float | None
    queue: str | None
    pool: str | None
    pool_slots: float | None
    execution_timeout: TimeDelta | None
    retry_delay: TimeDelta | None
    retry_exponential_backoff: float
    priority_weight: float | None
    weight_rule: str | None
    ui_color: str | None
    ui_fgcolor: str | None
    template_fields: list[str] | None
    downstream_task_ids: list[str] | None
    doc_md: str | None
    operator_name: str | None
    params: dict[str, Any] | None
    class_ref: dict[str, Any] | None
    is_mapped: bool | None
    extra_links: list[str]


class TaskCollectionResponse(BaseModel):
    """Every task of a DAG."""

    tasks: list[TaskResponse]
    total_entries: int
