"""Health, version and metrics: what load balancers, Prometheus and ``airflow version`` ask."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from psycopg_pool import AsyncConnectionPool

from leoflow import __version__
from leoflow.telemetry.metrics import METRICS_CONTENT_TYPE, render_metrics

router = APIRouter()


async def _database_status(pool: AsyncConnectionPool) -> dict[str, Any]:
    try:
        async with pool.connection(timeout=2.0) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # the health answer reports every failure, it never raises
        return {"status": "unhealthy", "error": type(exc).__name__}
    return {"status": "healthy"}


@router.get("/api/v2/monitor/health", tags=["Monitor"])
async def health(request: Request, response: Response) -> dict[str, Any]:
    """Airflow-shaped health: the metadatabase is pinged for real on every call."""
    metadatabase = await _database_status(request.app.state.pool)
    if metadatabase["status"] != "healthy":
        response.status_code = 503
    return {"metadatabase": metadatabase}


@router.get("/api/v2/version", tags=["Version"])
async def version() -> dict[str, Any]:
    """Version of the server (Airflow's ``VersionInfo`` shape)."""
    return {"version": __version__, "git_version": None}


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    """Prometheus scrape endpoint."""
    return Response(content=render_metrics(), media_type=METRICS_CONTENT_TYPE)
