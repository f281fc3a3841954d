"""Every Airflow operation the resource routes implement answers what Airflow 3.3.2 documents.

The ``client`` fixture validates each JSON answer against the schema of its operation in the
real ``v2-rest-api-generated.yaml``; this test calls every one of those operations (success and
an error case where there is one) and checks that none was missed and none is invented.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import httpx
from fastapi import FastAPI

from harness.airflow_api import (
    admin,
    bash_spec,
    client,
    contract_check,
    drive,
    public_contract,
    push,
    start_run,
    trigger,
)
from leoflow.api.log_reader import FileLogReader
from leoflow.api.routes import monitor
from leoflow.api.routes.public import PUBLIC_ROUTERS
from leoflow.states import TaskState
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]

LEOFLOW_ONLY = {
    ("POST", "/api/v2/dags/{dag_id}/versions"),
    ("PUT", "/api/v2/importErrors"),
    ("DELETE", "/api/v2/importErrors"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}
"""Leoflow's own endpoints; everything else must be an Airflow operation."""


def _implemented() -> set[tuple[str, str]]:
    return {
        (method, route.path_format)
        for router in (*PUBLIC_ROUTERS, monitor.router)
        for route in router.routes
        for method in getattr(route, "methods", ())
    }


def test_every_route_is_an_airflow_operation_or_leoflows_own() -> None:
    operations = public_contract().operations()
    invented = _implemented() - operations - LEOFLOW_ONLY
    assert invented == set()


async def _seed(client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, logs: Path) -> None:
    assert (await push(client, admin, bash_spec("etl", tags=["t"]))).status_code == 201
    await trigger(client, admin, "etl", run_id="r1", conf={"a": 1})
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'r1'")
        row = await cur.fetchone()
    assert row is not None
    run_uuid: UUID = row[0]
    await start_run(pool, run_uuid, ("extract", "transform", "load"))
    await drive(pool, run_uuid, {"extract": TaskState.SUCCESS, "transform": TaskState.FAILED})
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO xcom (run_uuid, task_id, key, value) VALUES (%s, 'extract', 'k', %s)",
            (run_uuid, json.dumps([1, 2]).encode()),
        )
    log = logs / "default" / "etl" / "r1" / "extract" / "1.log"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"event": "hi", "timestamp": "2025-01-01T00:00:00Z"}) + "\n")
    report = {"filename": "x.py", "stack_trace": "boom"}
    assert (await client.put("/api/v2/importErrors", json=report, headers=admin)).status_code == 201


async def test_every_answer_matches_the_airflow_schema(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    api_app: FastAPI,
    db_pool: Pool,
    tmp_path: Path,
) -> None:
    api_app.state.log_reader = FileLogReader(tmp_path)
    await _seed(client, admin, db_pool, tmp_path)
    check = contract_check()
    called: set[tuple[str, str]] = set()

    async def call(method: str, path: str, expect: int = 200, **kwargs: object) -> httpx.Response:
        response = await client.request(method, path, headers=admin, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == expect, (method, path, response.text)
        template = check.template(method, path.split("?", maxsplit=1)[0])
        assert template is not None, path
        called.add((method, template))
        return response

    ti = "/api/v2/dags/etl/dagRuns/r1/taskInstances"
    import_error_id = (await call("GET", "/api/v2/importErrors")).json()["import_errors"][0][
        "import_error_id"
    ]
    calls: list[tuple[str, str, int, dict[str, object]]] = [
        ("GET", "/api/v2/dags", 200, {}),
        ("PATCH", "/api/v2/dags?dag_id_pattern=~", 200, {"json": {"is_paused": False}}),
        ("GET", "/api/v2/dags/etl", 200, {}),
        ("GET", "/api/v2/dags/nope", 404, {}),
        ("GET", "/api/v2/dags/etl/details", 200, {}),
        ("PATCH", "/api/v2/dags/etl", 200, {"json": {"is_paused": False}}),
        ("POST", "/api/v2/dags/etl/favorite", 204, {}),
        ("POST", "/api/v2/dags/etl/unfavorite", 204, {}),
        ("GET", "/api/v2/dags/etl/dagVersions", 200, {}),
        ("GET", "/api/v2/dags/etl/dagVersions/1", 200, {}),
        ("GET", "/api/v2/dags/etl/dagVersions/5", 404, {}),
        ("GET", "/api/v2/dagSources/etl", 200, {}),
        ("GET", "/api/v2/dags/etl/tasks", 200, {}),
        ("GET", "/api/v2/dags/etl/tasks/extract", 200, {}),
        ("GET", "/api/v2/dags/etl/dagRuns", 200, {}),
        ("GET", "/api/v2/dags/~/dagRuns?state=running", 200, {}),
        ("POST", "/api/v2/dags/~/dagRuns/list", 200, {"json": {"dag_ids": ["etl"]}}),
        ("GET", "/api/v2/dags/etl/dagRuns/r1", 200, {}),
        ("GET", "/api/v2/dags/etl/dagRuns/zz", 404, {}),
        ("POST", "/api/v2/dags/etl/dagRuns", 200, {"json": {"logical_date": None}}),
        (
            "POST",
            "/api/v2/dags/etl/dagRuns",
            409,
            {"json": {"logical_date": None, "dag_run_id": "r1"}},
        ),
        ("PATCH", "/api/v2/dags/etl/dagRuns/r1", 200, {"json": {"note": "n"}}),
        ("POST", "/api/v2/dags/etl/dagRuns/r1/clear", 200, {"json": {"dry_run": True}}),
        ("GET", "/api/v2/dags/etl/dagRuns/r1/upstreamAssetEvents", 200, {}),
        ("GET", f"{ti}/extract/xcomEntries", 200, {}),
        ("GET", f"{ti}/extract/xcomEntries/k", 200, {}),
        ("GET", f"{ti}/extract/xcomEntries/k?stringify=true", 200, {}),
        ("GET", f"{ti}/extract/xcomEntries/zz", 404, {}),
        ("GET", f"{ti}/extract/logs/1", 200, {}),
        ("GET", f"{ti}/extract/logs/9", 404, {}),
        ("GET", f"{ti}/extract/externalLogUrl/1", 400, {}),
        ("GET", ti, 200, {}),
        ("GET", "/api/v2/dags/~/dagRuns/~/taskInstances", 200, {}),
        ("POST", f"{ti}/list", 200, {"json": {"task_ids": ["extract"]}}),
        ("GET", f"{ti}/extract/listMapped", 404, {}),
        ("GET", f"{ti}/extract/tries", 200, {}),
        ("GET", f"{ti}/extract/tries/1", 200, {}),
        ("GET", f"{ti}/load/dependencies", 200, {}),
        ("GET", f"{ti}/extract/links", 200, {}),
        ("PATCH", f"{ti}/transform/dry_run", 200, {"json": {"new_state": "success"}}),
        ("PATCH", f"{ti}/extract", 200, {"json": {"note": "ok"}}),
        ("PATCH", f"{ti}/extract", 409, {"json": {"new_state": "success"}}),
        ("GET", f"{ti}/extract", 200, {}),
        ("GET", f"{ti}/extract/-1/tries", 200, {}),
        ("GET", f"{ti}/extract/-1/tries/1", 200, {}),
        ("GET", f"{ti}/load/-1/dependencies", 200, {}),
        ("PATCH", f"{ti}/transform/-1/dry_run", 200, {"json": {"new_state": "skipped"}}),
        ("PATCH", f"{ti}/transform/-1", 200, {"json": {"new_state": "success", "note": "x"}}),
        ("GET", f"{ti}/extract/-1", 200, {}),
        ("POST", "/api/v2/dags/etl/clearTaskInstances", 200, {"json": {"dag_run_id": "r1"}}),
        ("GET", "/api/v2/importErrors", 200, {}),
        ("GET", f"/api/v2/importErrors/{import_error_id}", 200, {}),
        ("GET", "/api/v2/importErrors/0", 404, {}),
        ("GET", "/api/v2/dagStats", 200, {}),
        ("GET", "/api/v2/dagTags", 200, {}),
        ("GET", "/api/v2/dagWarnings", 200, {}),
        ("GET", "/api/v2/jobs", 200, {}),
        ("GET", "/api/v2/plugins", 200, {}),
        ("GET", "/api/v2/plugins/importErrors", 200, {}),
        ("GET", "/api/v2/providers", 200, {}),
        ("GET", "/api/v2/pools", 200, {}),
        ("GET", "/api/v2/pools/default_pool", 404, {}),
        ("GET", "/api/v2/assets", 200, {}),
        ("GET", "/api/v2/assets/events", 200, {}),
        ("GET", "/api/v2/assets/aliases", 200, {}),
        ("GET", "/api/v2/dags/etl/assets/queuedEvents", 200, {}),
        ("GET", "/api/v2/backfills?dag_id=etl", 200, {}),
        ("GET", "/api/v2/backfills/1", 404, {}),
        ("GET", "/api/v2/config", 200, {}),
        ("GET", "/api/v2/config/section/core/option/dags_folder", 404, {}),
        ("GET", "/api/v2/monitor/health", 200, {}),
        ("GET", "/api/v2/version", 200, {}),
        ("DELETE", f"{ti}/load", 200, {}),
        ("PATCH", "/api/v2/dags/etl/dagRuns/r1", 200, {"json": {"state": "success"}}),
        ("DELETE", "/api/v2/dags/etl/dagRuns/r1", 204, {}),
        ("DELETE", "/api/v2/dags/etl", 204, {}),
    ]
    for method, path, expect, kwargs in calls:
        await call(method, path, expect, **kwargs)

    implemented = _implemented() & public_contract().operations()
    assert implemented - called == set()
