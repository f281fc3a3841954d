"""Every Airflow operation the resource routes implement answers what Airflow 3.3.2 documents.

The ``client`` fixture validates each JSON answer against the schema of its operation in the
real ``v2-rest-api-generated.yaml``; this test calls every one of those operations (success and
an error case where there is one) and checks that none was missed and none is invented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
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
from leoflow.api.routes import auth, connections, event_logs, monitor, variables
from leoflow.api.routes.not_supported import NOT_SUPPORTED, OPERATIONS
from leoflow.api.routes.public import PUBLIC_ROUTERS
from leoflow.api.routes.ui import absent_public_router
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


def _served() -> set[tuple[str, str]]:
    """Every ``(method, path)`` the app answers under ``/api/v2``, whatever its router."""
    routers = (
        *PUBLIC_ROUTERS,
        monitor.router,
        auth.router,
        variables.router,
        connections.router,
        event_logs.router,
        absent_public_router,
    )
    return {
        (method, route.path_format)
        for router in routers
        for route in router.routes
        for method in getattr(route, "methods", ())
    }


def test_every_airflow_operation_is_served_or_declared_not_supported() -> None:
    """Nothing of Airflow 3.3.2's API is silently missing: each operation is implemented, or
    answered by the documented not-supported list, which names only real operations."""
    operations = public_contract().operations()
    assert operations - _served() == set()
    assert operations >= NOT_SUPPORTED
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    undocumented = {
        (method, path) for method, path in NOT_SUPPORTED if f"`{method} {path[7:]}`" not in docs
    }
    assert undocumented == set()


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
    grouped = bash_spec("grp", edges={"g.a": [], "g.b": ["g.a"], "after": ["g.b"]})
    assert (await push(client, admin, grouped)).status_code == 201
    await trigger(client, admin, "grp", run_id="gr1")
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'gr1'")
        row = await cur.fetchone()
    assert row is not None
    await start_run(pool, row[0], ("g.a", "g.b", "after"))
    await drive(pool, row[0], {"g.a": TaskState.SUCCESS, "g.b": TaskState.FAILED})


def _not_supported_calls() -> list[tuple[str, str, int, dict[str, object]]]:
    """One call of every operation answered as not supported, on the seeded objects."""
    values = {"dag_id": "etl", "dag_run_id": "r1", "task_id": "extract"}
    calls: list[tuple[str, str, int, dict[str, object]]] = []
    for op in OPERATIONS:
        path = op.path
        for name in [p[1:-1] for p in op.path.split("/") if p.startswith("{")]:
            value = values.get(name, "1" if name.endswith(("_id", "_index", "_number")) else "x")
            path = path.replace("{" + name + "}", value)
        calls.append((op.method, "/api/v2" + path, op.status, {}))
    calls.append(("GET", "/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/state-store", 200, {}))
    return calls


_BULK_TI = {
    "actions": [
        {"action": "update", "entities": [{"task_id": "after", "new_state": "skipped"}]},
        {"action": "delete", "entities": ["after"]},
    ]
}
_BULK_RUNS = {"actions": [{"action": "update", "entities": [{"dag_run_id": "gr1", "note": "n"}]}]}


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

    async def call(method: str, path: str, expect: int = 200, **kwargs: Any) -> httpx.Response:
        headers = {**admin, **kwargs.pop("headers", {})}
        response = await client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == expect, (method, path, response.text)
        template = check.template(method, path.split("?", maxsplit=1)[0])
        assert template is not None, path
        called.add((method, template))
        return response

    ti = "/api/v2/dags/etl/dagRuns/r1/taskInstances"
    grp = "/api/v2/dags/grp/dagRuns/gr1"
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
        ("POST", f"{ti}/extract/xcomEntries", 201, {"json": {"key": "made", "value": {"a": 1}}}),
        ("POST", f"{ti}/extract/xcomEntries", 409, {"json": {"key": "made", "value": 2}}),
        ("PATCH", f"{ti}/extract/xcomEntries/made", 200, {"json": {"value": [3]}}),
        ("PATCH", f"{ti}/extract/xcomEntries/none", 404, {"json": {"value": 1}}),
        ("DELETE", f"{ti}/extract/xcomEntries/made", 204, {}),
        ("PATCH", f"{grp}/taskGroupInstances/g/dry_run", 200, {"json": {"new_state": "failed"}}),
        ("PATCH", f"{grp}/taskGroupInstances/g", 200, {"json": {"new_state": "success"}}),
        ("PATCH", f"{grp}/taskGroupInstances/nope", 404, {"json": {"new_state": "success"}}),
        ("PATCH", f"{grp}/taskInstances", 200, {"json": _BULK_TI}),
        ("PATCH", "/api/v2/dags/grp/dagRuns", 200, {"json": _BULK_RUNS}),
        (
            "POST",
            "/api/v2/dags/grp/clearDagRuns",
            200,
            {"json": {"dag_runs": [{"dag_run_id": "gr1"}]}},
        ),
        (
            "POST",
            "/api/v2/dags/grp/clearDagRuns",
            200,
            {"json": {"dry_run": False, "dag_runs": [{"dag_run_id": "gr1"}]}},
        ),
        (
            "POST",
            "/api/v2/dags/grp/clearDagRuns",
            404,
            {"json": {"dag_runs": [{"dag_run_id": "z"}]}},
        ),
        ("POST", "/api/v2/connections/defaults", 204, {}),
        (
            "GET",
            "/api/v2/connections/enqueue-test",
            404,
            {"headers": {"Airflow-Connection-Test-Token": "nope"}},
        ),
        (
            "POST",
            "/api/v2/connections/enqueue-test",
            403,
            {"json": {"connection_id": "c1", "conn_type": "http"}},
        ),
        *_not_supported_calls(),
        ("DELETE", f"{ti}/load", 200, {}),
        ("PATCH", "/api/v2/dags/etl/dagRuns/r1", 200, {"json": {"state": "success"}}),
        ("GET", "/api/v2/dags/etl/dagRuns/r1/wait?interval=0.1&result=extract", 200, {}),
        ("GET", "/api/v2/dags/etl/dagRuns/zz/wait?interval=1", 404, {}),
        ("DELETE", "/api/v2/dags/etl/dagRuns/r1", 204, {}),
        ("DELETE", "/api/v2/dags/etl", 204, {}),
    ]
    for method, path, expect, kwargs in calls:
        await call(method, path, expect, **kwargs)

    implemented = _implemented() & public_contract().operations()
    assert implemented - called == set()
