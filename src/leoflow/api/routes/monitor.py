"""Health, version and metrics: what load balancers, Prometheus and ``airflow version`` ask.

* ``/api/v2/monitor/health`` — Airflow's shape: the metadatabase is pinged for real and the
  scheduler is judged by the latest heartbeat a scheduler process stored. It always answers
  200, as Airflow does; the statuses inside say what is wrong.
* ``/healthz`` — liveness: the process serves requests (no dependency is checked, so a
  database outage never gets the pod restarted in a loop).
* ``/readyz`` — readiness: PostgreSQL answers, and Redis too when ``LEOFLOW_REDIS_URL`` is set;
  503 otherwise, so a load balancer stops sending traffic here.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status
from fastapi.responses import JSONResponse

from leoflow import __version__
from leoflow.api.common.resources import get_pool, get_settings
from leoflow.api.datamodels.monitor import (
    BaseInfoResponse,
    DagProcessorInfoResponse,
    HealthInfoResponse,
    SchedulerInfoResponse,
    TriggererInfoResponse,
    VersionInfo,
)
from leoflow.config import Settings
from leoflow.store.pool import Pool
from leoflow.store.scheduling import latest_scheduler_heartbeat
from leoflow.telemetry.metrics import METRICS_CONTENT_TYPE, render_metrics

router = APIRouter()

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
SCHEDULER_HEALTH_THRESHOLD = timedelta(seconds=30)
"""A scheduler whose last heartbeat is older than this is reported unhealthy (Airflow's
``scheduler_health_check_threshold`` default)."""
_CHECK_TIMEOUT_SECONDS = 2.0


async def _database_status(pool: Pool) -> tuple[str, str | None]:
    try:
        async with pool.connection(timeout=_CHECK_TIMEOUT_SECONDS) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # the health answer reports every failure, it never raises
        return UNHEALTHY, type(exc).__name__
    return HEALTHY, None


async def _scheduler_status(pool: Pool) -> SchedulerInfoResponse:
    try:
        beat = await asyncio.wait_for(latest_scheduler_heartbeat(pool), _CHECK_TIMEOUT_SECONDS)
    except Exception:  # no database, no scheduler verdict either
        return SchedulerInfoResponse(status=UNHEALTHY, latest_scheduler_heartbeat=None)
    if beat is None:
        return SchedulerInfoResponse(status=UNHEALTHY, latest_scheduler_heartbeat=None)
    fresh = datetime.now(UTC) - beat.heartbeat_at <= SCHEDULER_HEALTH_THRESHOLD
    return SchedulerInfoResponse(
        status=HEALTHY if fresh else UNHEALTHY,
        latest_scheduler_heartbeat=beat.heartbeat_at.isoformat(),
    )


@router.get("/api/v2/monitor/health", tags=["Monitor"])
async def get_health(pool: Annotated[Pool, Depends(get_pool)]) -> HealthInfoResponse:
    """Health of the metadatabase and the scheduler.

    Leoflow runs no separate triggerer (deferred tasks wait inside the control plane) and no
    DAG processor (DAGs are compiled before they are pushed), so those report no status.
    """
    database, _ = await _database_status(pool)
    return HealthInfoResponse(
        metadatabase=BaseInfoResponse(status=database),
        scheduler=await _scheduler_status(pool),
        triggerer=TriggererInfoResponse(status=None, latest_triggerer_heartbeat=None),
        dag_processor=DagProcessorInfoResponse(status=None, latest_dag_processor_heartbeat=None),
    )


@router.get("/api/v2/version", tags=["Version"])
async def get_version() -> VersionInfo:
    """Version of the server."""
    return VersionInfo(version=__version__, git_version=None)


@router.get("/healthz", tags=["Leoflow"])
async def healthz() -> dict[str, str]:
    """Liveness: the process is up and serving."""
    return {"status": "ok"}


async def _redis_status(url: str) -> tuple[str, str | None]:
    try:
        from redis.asyncio import Redis
    except ImportError:
        return UNHEALTHY, "the redis client is not installed (pip install redis)"
    client = Redis.from_url(url, socket_timeout=_CHECK_TIMEOUT_SECONDS)
    try:
        answer = client.ping()
        if inspect.isawaitable(answer):
            await asyncio.wait_for(answer, _CHECK_TIMEOUT_SECONDS)
    except Exception as exc:
        return UNHEALTHY, type(exc).__name__
    finally:
        await client.aclose()
    return HEALTHY, None


@router.get("/readyz", tags=["Leoflow"], responses={503: {"description": "Not ready"}})
async def readyz(
    pool: Annotated[Pool, Depends(get_pool)],
    settings: Annotated[Settings, Depends(get_settings)],
) -> JSONResponse:
    """Readiness: PostgreSQL, and Redis when configured, answer within two seconds."""
    checks: dict[str, dict[str, Any]] = {}
    database, problem = await _database_status(pool)
    checks["postgres"] = {"status": database, **({"error": problem} if problem else {})}
    if settings.redis_url is not None:
        redis, problem = await _redis_status(settings.redis_url.get_secret_value())
        checks["redis"] = {"status": redis, **({"error": problem} if problem else {})}
    ready = all(check["status"] == HEALTHY for check in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus scrape endpoint."""
    return Response(content=render_metrics(), media_type=METRICS_CONTENT_TYPE)
