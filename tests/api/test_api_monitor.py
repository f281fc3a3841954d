"""Health, readiness, version, request ids and HTTP metrics."""

from __future__ import annotations

import socket

import httpx
import pytest
from pydantic import SecretStr

from harness.airflow_api import admin, bash_spec, client, push
from harness.api import api_settings
from leoflow import __version__
from leoflow.api.app import create_app
from leoflow.store.pool import Pool
from leoflow.store.scheduling import record_scheduler_heartbeat
from leoflow.telemetry.metrics import render_metrics

__all__ = ["admin", "client"]


async def test_health_reports_database_and_scheduler_heartbeat(
    client: httpx.AsyncClient, db_pool: Pool
) -> None:
    before = await client.get("/api/v2/monitor/health")
    assert before.status_code == 200
    assert before.json() == {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": None},
        "triggerer": {"status": None, "latest_triggerer_heartbeat": None},
        "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None},
    }
    await record_scheduler_heartbeat(db_pool, "sched-1", "host-a", 4242, is_leader=True)
    after = (await client.get("/api/v2/monitor/health")).json()
    assert after["scheduler"]["status"] == "healthy"
    assert after["scheduler"]["latest_scheduler_heartbeat"] is not None

    async with db_pool.connection() as conn:
        await conn.execute(
            "UPDATE scheduler_heartbeats SET heartbeat_at = now() - interval '5 minutes'"
        )
    stale = (await client.get("/api/v2/monitor/health")).json()
    assert stale["scheduler"]["status"] == "unhealthy"


async def test_jobs_list_scheduler_processes(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await record_scheduler_heartbeat(db_pool, "sched-1", "host-a", 1, is_leader=True)
    await record_scheduler_heartbeat(db_pool, "sched-2", "host-b", 2, is_leader=False)
    async with db_pool.connection() as conn:
        await conn.execute(
            "UPDATE scheduler_heartbeats SET heartbeat_at = now() - interval '1 hour' "
            "WHERE scheduler_id = 'sched-2'"
        )
    jobs = (await client.get("/api/v2/jobs", headers=admin)).json()
    assert [(j["hostname"], j["state"], j["job_type"]) for j in jobs["jobs"]] == [
        ("host-a", "running", "SchedulerJob"),
        ("host-b", "failed", "SchedulerJob"),
    ]
    alive = (await client.get("/api/v2/jobs", params={"is_alive": "true"}, headers=admin)).json()
    assert alive["total_entries"] == 1


async def test_version_healthz_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v2/version")).json() == {
        "version": __version__,
        "git_version": None,
    }
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"postgres": {"status": "healthy"}}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def _readyz(pool: Pool, redis_url: str) -> httpx.Response:
    app = create_app(pool, api_settings(redis_url=SecretStr(redis_url)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/readyz")


async def test_readyz_checks_redis_when_configured(db_pool: Pool) -> None:
    response = await _readyz(db_pool, f"redis://127.0.0.1:{_closed_port()}/0")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["postgres"] == {"status": "healthy"}
    assert body["checks"]["redis"]["status"] == "unhealthy"


@pytest.mark.redis
async def test_readyz_with_a_real_redis(db_pool: Pool, redis_url: str) -> None:
    response = await _readyz(db_pool, redis_url)
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == {"status": "healthy"}


async def test_request_id_is_echoed_or_minted(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    minted = await client.get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert minted.headers["X-Request-Id"] not in ("", "bad id with spaces")
    assert len(minted.headers["X-Request-Id"]) == 32
    on_error = await client.get("/api/v2/dags/nope")
    assert on_error.status_code == 401 and on_error.headers["X-Request-Id"]


async def test_http_metrics_use_the_route_template(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, bash_spec("metric_dag"))
    for _ in range(2):
        assert (await client.get("/api/v2/dags/metric_dag", headers=admin)).status_code == 200
    assert (await client.get("/api/v2/dags/missing_dag", headers=admin)).status_code == 404
    text = render_metrics().decode()
    assert (
        'leoflow_api_requests_total{method="GET",route="/api/v2/dags/{dag_id}",status="200"}'
        in text
    )
    assert 'route="/api/v2/dags/{dag_id}",status="404"' in text
    assert "metric_dag" not in text and "missing_dag" not in text
    assert (
        'leoflow_api_request_duration_seconds_count{method="GET",route="/api/v2/dags/{dag_id}"}'
        in text
    )
    scraped = await client.get("/metrics")
    assert "leoflow_api_requests_total" in scraped.text


async def test_each_request_is_a_span_carrying_the_request_id(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from leoflow.telemetry.tracing import configure_tracing

    configure_tracing("leoflow-tests")
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    try:
        await push(client, admin, bash_spec("traced"))
        response = await client.get(
            "/api/v2/dags/traced", headers={**admin, "X-Request-Id": "trace-me-1"}
        )
        assert response.status_code == 200
        server_spans = [s for s in exporter.get_finished_spans() if s.kind is trace.SpanKind.SERVER]
        (span,) = [
            s for s in server_spans if (s.attributes or {}).get("http.request_id") == "trace-me-1"
        ]
        assert span.name == "GET /api/v2/dags/{dag_id}"
    finally:
        exporter.shutdown()  # the provider is process-wide: stop collecting
