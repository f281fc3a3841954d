"""``/api/v2/jobs``: the scheduler processes, from their heartbeats (Airflow's ``SchedulerJob``).

A scheduler whose heartbeat is fresh is ``running``; one that stopped heartbeating is shown
as ``failed`` with its last heartbeat, which is what Airflow shows for a dead job.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import OrderTerms, Page, pagination, sort_param
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.task_instances import JobCollectionResponse, JobResponse
from leoflow.api.routes.monitor import SCHEDULER_HEALTH_THRESHOLD
from leoflow.api.security import Permission, Principal, require
from leoflow.store.pool import Pool
from leoflow.store.scheduler_jobs import SchedulerJob, list_scheduler_jobs

router = APIRouter(prefix="/api/v2/jobs", tags=["Job"])

JOB_TYPE = "SchedulerJob"


def _job(job: SchedulerJob, now: datetime) -> JobResponse:
    alive = now - job.heartbeat_at <= SCHEDULER_HEALTH_THRESHOLD
    return JobResponse(
        id=job.number,
        dag_id=None,
        state="running" if alive else "failed",
        job_type=JOB_TYPE,
        start_date=job.started_at,
        end_date=None if alive else job.heartbeat_at,
        latest_heartbeat=job.heartbeat_at,
        executor_class=None,
        hostname=job.hostname,
        unixname=None,
        dag_display_name=None,
    )


@router.get("")
async def get_jobs(
    *,
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[OrderTerms, Depends(sort_param(("id",), "id"))],
    is_alive: bool | None = None,
    job_type: str | None = None,
    job_state: str | None = None,
) -> JobCollectionResponse:
    """Scheduler processes, oldest first."""
    now = datetime.now(UTC)
    if job_type not in (None, JOB_TYPE):
        return JobCollectionResponse(jobs=[], total_entries=0)
    rows, total = await list_scheduler_jobs(
        pool,
        alive_after=now - SCHEDULER_HEALTH_THRESHOLD if is_alive else None,
        limit=page.limit,
        offset=page.offset,
        descending=order_by[0][1],
    )
    jobs = [_job(row, now) for row in rows]
    if job_state is not None:
        jobs = [job for job in jobs if job.state == job_state]
        total = len(jobs)
    return JobCollectionResponse(jobs=jobs, total_entries=total)
