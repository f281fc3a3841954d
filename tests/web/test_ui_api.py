"""The private ``/ui`` API: every answer validates against Airflow 3.3.2's ``_private_ui.yaml``.

A realistic history is written first (a DAG of three tasks with a successful, a failed and a
running run, a retried task, a second version, and a DAG of another tenant that must never
show), then every operation of the contract is called and its answer checked against the
schema *and* against what the history says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from harness.api import AuthHeaders
from harness.factories import spec_hash
from harness.web import UiContract
from leoflow.api.routes.ui.config import serves
from leoflow.store.dag_runs import RunType, create_dag_run
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.pool import Pool, acquire
from leoflow.store.task_instances import create_task_instances
from leoflow.store.tenants import get_default_tenant_id

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
TASKS = ("extract", "transform", "load")


def _spec(dag_id: str, tasks: tuple[str, ...] = TASKS, **extra: Any) -> dict[str, Any]:
    chain = [
        {"task_id": t, "type": "python" if i else "bash", "depends_on": list(tasks[i - 1 : i])}
        for i, t in enumerate(tasks)
    ]
    return {"schema_version": "1.0", "dag_id": dag_id, "tasks": chain, **extra}


async def _register(pool: Pool, tenant_id: UUID, spec: dict[str, Any]) -> Any:
    version, _ = await register_dag_version(
        pool, tenant_id, spec["dag_id"], spec, spec_hash(spec), paused_on_create=False
    )
    return version


async def _run(
    pool: Pool,
    version: Any,
    run_id: str,
    state: str,
    *,
    start: datetime,
    ti_states: dict[str, str],
    minutes: int = 5,
) -> UUID:
    run, _ = await create_dag_run(
        pool,
        dag_uuid=version.dag_uuid,
        run_id=run_id,
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
        triggered_by="ui",
        logical_date=start,
        run_after=start,
    )
    tis = await create_task_instances(pool, run.id, list(ti_states))
    end = start + timedelta(minutes=minutes) if state in ("success", "failed") else None
    async with acquire(pool) as conn:
        await conn.execute(
            "UPDATE dag_runs SET state = %s, start_date = %s, end_date = %s WHERE id = %s",
            (state, start, end, run.id),
        )
        for offset, ti in enumerate(tis):
            ti_state = ti_states[ti.task_id]
            started = (
                None if ti_state in ("none", "scheduled") else start + timedelta(minutes=offset)
            )
            ended = started + timedelta(seconds=30) if started and ti_state != "running" else None
            await conn.execute(
                "UPDATE task_instances SET state = %s, start_date = %s, end_date = %s, "
                "queued_at = %s WHERE id = %s",
                (ti_state, started, ended, started, ti.id),
            )
    return run.id


@dataclass
class History:
    """What the tests wrote."""

    tenant_id: UUID


@pytest.fixture
async def history(db_pool: Pool) -> History:
    tenant_id = await get_default_tenant_id(db_pool)
    v1 = await _register(db_pool, tenant_id, _spec("etl", ("extract", "transform", "legacy")))
    await _run(
        db_pool,
        v1,
        "manual__2025-03-01T06:00:00+00:00",
        "success",
        start=T0,
        ti_states={"extract": "success", "transform": "success", "legacy": "success"},
        minutes=4,
    )
    v2 = await _register(db_pool, tenant_id, _spec("etl", tags=["team-a"]))
    failed = await _run(
        db_pool,
        v2,
        "manual__2025-03-02T06:00:00+00:00",
        "failed",
        start=T0 + timedelta(days=1),
        ti_states={"extract": "success", "transform": "failed", "load": "upstream_failed"},
    )
    await _run(
        db_pool,
        v2,
        "manual__2025-03-03T06:00:00+00:00",
        "running",
        start=T0 + timedelta(days=2),
        ti_states={"extract": "success", "transform": "running", "load": "none"},
    )
    async with acquire(db_pool) as conn:  # transform of the failed run was retried once
        cur = await conn.execute(
            "SELECT id FROM task_instances WHERE run_uuid = %s AND task_id = 'transform'",
            (failed,),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO task_instance_history (task_instance_id, run_uuid, task_id, map_index, "
            "state, try_number, start_date, end_date) VALUES (%s, %s, 'transform', -1, "
            "'failed', 1, %s, %s)",
            (row[0], failed, T0 + timedelta(days=1), T0 + timedelta(days=1, seconds=10)),
        )
        await conn.execute("UPDATE task_instances SET try_number = 2 WHERE id = %s", (row[0],))
        await conn.execute("UPDATE dags SET tags = '{team-a}' WHERE dag_id = 'etl'")
        cur = await conn.execute("INSERT INTO tenants (name) VALUES ('other') RETURNING id")
        other = await cur.fetchone()
        assert other is not None
    hidden = await _register(db_pool, other[0], _spec("secret_dag"))
    await _run(db_pool, hidden, "manual__x", "failed", start=T0, ti_states={"extract": "failed"})
    return History(tenant_id=tenant_id)


@pytest.fixture
async def admin(auth_headers: AuthHeaders) -> dict[str, str]:
    return await auth_headers("Admin")


def _template_of(contract: UiContract, path: str) -> str:
    """The contract's path template matching a concrete path."""
    parts = path.split("/")
    for _method, template in contract.operations():
        pieces = template.split("/")
        if len(pieces) == len(parts) and all(
            p == q or (p.startswith("{") and p.endswith("}"))
            for p, q in zip(pieces, parts, strict=True)
        ):
            return template
    raise AssertionError(f"{path} is not in the contract")


async def _get(
    client: httpx.AsyncClient,
    contract: UiContract,
    app: FastAPI,
    url: str,
    headers: dict[str, str],
    **params: Any,
) -> Any:
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert serves(app, "GET", url)
    contract.validate_response("GET", _template_of(contract, url), body)
    return body


def test_every_contract_operation_is_served(api_app: FastAPI, contract: UiContract) -> None:
    missing = {
        (method, template)
        for method, template in contract.operations()
        if not serves(api_app, method, re.sub(r"\{[^}]+\}", "x", template))
    }
    assert not missing, f"/ui operations of Airflow 3.3.2 not served: {sorted(missing)}"


def test_ui_routes_stay_out_of_the_public_openapi_document(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    assert not [p for p in paths if p.startswith("/ui/")]


async def test_without_a_token_the_app_is_sent_to_login(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/ui/config")
    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


async def test_config_names_leoflow_and_its_logo(
    api_client: httpx.AsyncClient, api_app: FastAPI, contract: UiContract, admin: dict[str, str]
) -> None:
    body = await _get(api_client, contract, api_app, "/ui/config", admin)
    assert body["instance_name"] == "Leoflow Lite"
    assert body["theme"] == {"icon": "/_leoflow/logo.svg", "icon_dark_mode": "/_leoflow/logo.svg"}
    assert body["auto_refresh_interval"] == 3
    assert body["enable_swagger_ui"] is True
    assert "not affiliated with or endorsed" in body["dashboard_alert"][0]["text"]


async def test_cookie_auth_works_like_the_browser(
    api_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    token = admin["Authorization"].removeprefix("Bearer ")
    api_client.cookies.set("_token", token)
    try:
        me = await api_client.get("/ui/auth/me")
    finally:
        api_client.cookies.clear()
    assert me.status_code == 200
    assert me.json()["username"].startswith("admin-")


async def test_menus_offer_only_what_the_role_and_server_allow(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    auth_headers: AuthHeaders,
    admin: dict[str, str],
) -> None:
    items = (await _get(api_client, contract, api_app, "/ui/auth/menus", admin))[
        "authorized_menu_items"
    ]
    assert {"Variables", "Connections", "Audit Log", "Docs"} <= set(items)
    assert not {"Assets", "Deadlines", "Required Actions"} & set(items)
    viewer = await auth_headers("Viewer")
    viewer_items = (await _get(api_client, contract, api_app, "/ui/auth/menus", viewer))[
        "authorized_menu_items"
    ]
    assert "Variables" not in viewer_items and "Connections" not in viewer_items
    assert "Audit Log" in viewer_items


async def test_generated_tokens_work_and_are_audited(
    api_client: httpx.AsyncClient, contract: UiContract, admin: dict[str, str]
) -> None:
    response = await api_client.post("/ui/auth/token", json={"token_type": "cli"}, headers=admin)
    assert response.status_code == 200
    body = response.json()
    contract.validate_response("POST", "/ui/auth/token", body)
    assert body["token_type"] == "cli" and body["expires_in_seconds"] == 3600
    me = await api_client.get(
        "/ui/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200
    bad = await api_client.post("/ui/auth/token", json={"token_type": "x"}, headers=admin)
    assert bad.status_code == 422


async def test_dag_list_has_latest_runs_newest_first_and_hides_other_tenants(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    body = await _get(
        api_client, contract, api_app, "/ui/dags", admin, dag_runs_limit=2, order_by="dag_id"
    )
    assert body["total_entries"] == 1
    (dag,) = body["dags"]
    assert dag["dag_id"] == "etl"
    assert [r["state"] for r in dag["latest_dag_runs"]] == ["running", "failed"]
    assert dag["latest_dag_runs"][1]["duration"] == 300.0
    assert dag["tags"][0]["name"] == "team-a"
    filtered = await _get(api_client, contract, api_app, "/ui/dags", admin, dag_run_state="success")
    assert filtered["total_entries"] == 1
    none = await _get(api_client, contract, api_app, "/ui/dags", admin, dag_id_pattern="nope")
    assert none == {"total_entries": 0, "dags": []}
    favorites = await _get(api_client, contract, api_app, "/ui/dags", admin, is_favorite=True)
    assert favorites["total_entries"] == 0


async def test_latest_run_and_run_stats(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    latest = await _get(api_client, contract, api_app, "/ui/dags/etl/latest_run", admin)
    assert latest["run_id"] == "manual__2025-03-03T06:00:00+00:00"
    assert isinstance(latest["id"], int) and 0 < latest["id"] < 2**53
    stats = await _get(
        api_client,
        contract,
        api_app,
        "/ui/dags/etl/dagRuns/manual__2025-03-01T06:00:00+00:00/stats",
        admin,
    )
    assert stats["duration"]["mean"] == 240.0
    missing = await api_client.get("/ui/dags/secret_dag/latest_run", headers=admin)
    assert missing.status_code == 404


async def test_dashboard_counts_this_tenant_only(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    stats = await _get(api_client, contract, api_app, "/ui/dashboard/dag_stats", admin)
    assert stats == {
        "active_dag_count": 1,
        "failed_dag_count": 0,
        "running_dag_count": 1,
        "queued_dag_count": 0,
    }
    metrics = await _get(
        api_client,
        contract,
        api_app,
        "/ui/dashboard/historical_metrics_data",
        admin,
        start_date=(T0 - timedelta(days=1)).isoformat(),
    )
    assert metrics["dag_run_states"] == {"queued": 0, "running": 1, "success": 1, "failed": 1}
    ti = metrics["task_instance_states"]
    assert ti["success"] == 5 and ti["failed"] == 1 and ti["no_status"] == 1
    assert ti["upstream_failed"] == 1 and ti["running"] == 1


async def test_graph_follows_depends_on(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    graph = await _get(
        api_client, contract, api_app, "/ui/structure/structure_data", admin, dag_id="etl"
    )
    ids = {n["id"] for n in graph["nodes"]}
    assert ids == set(TASKS)
    assert {(e["source_id"], e["target_id"]) for e in graph["edges"]} == {
        ("extract", "transform"),
        ("transform", "load"),
    }
    for edge in graph["edges"]:
        assert edge["source_id"] in ids and edge["target_id"] in ids
    assert {n["operator"] for n in graph["nodes"]} == {"BashOperator", "PythonOperator"}
    old = await _get(
        api_client,
        contract,
        api_app,
        "/ui/structure/structure_data",
        admin,
        dag_id="etl",
        version_number=1,
    )
    assert {n["id"] for n in old["nodes"]} == {"extract", "transform", "legacy"}
    partial = await _get(
        api_client,
        contract,
        api_app,
        "/ui/structure/structure_data",
        admin,
        dag_id="etl",
        root="transform",
        include_upstream=True,
    )
    assert {n["id"] for n in partial["nodes"]} == {"extract", "transform"}
    unknown = await api_client.get(
        "/ui/structure/structure_data",
        params={"dag_id": "etl", "version_number": 9},
        headers=admin,
    )
    assert unknown.status_code == 404


async def test_grid_rows_columns_and_cells_agree(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    params = {"limit": 10, "order_by": "-run_after"}
    rows = await _get(api_client, contract, api_app, "/ui/grid/structure/etl", admin, **params)
    assert [r["id"] for r in rows] == ["extract", "transform", "load", "legacy"]
    runs = await _get(api_client, contract, api_app, "/ui/grid/runs/etl", admin, **params)
    assert [r["state"] for r in runs] == ["running", "failed", "success"]
    assert runs[0]["duration"] > 0 and runs[0]["dag_versions"][0]["version_number"] == 2
    only_failed = await _get(
        api_client, contract, api_app, "/ui/grid/runs/etl", admin, state="failed"
    )
    assert len(only_failed) == 1
    run_ids = [r["run_id"] for r in runs]
    response = await api_client.get(
        "/ui/grid/ti_summaries/etl", params={"run_ids": run_ids}, headers=admin
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line["run_id"] for line in lines] == run_ids
    for line in lines:
        contract.validate(line, contract.schema_named("GridTISummaries"))
    running = {ti["task_id"]: ti["state"] for ti in lines[0]["task_instances"]}
    assert running == {"extract": "success", "transform": "running", "load": None}
    oldest = {ti["task_id"]: ti["state"] for ti in lines[2]["task_instances"]}
    assert oldest == {"extract": "success", "transform": "success", "legacy": "success"}
    etag = response.headers["etag"]
    again = await api_client.get(
        "/ui/grid/ti_summaries/etl",
        params={"run_ids": run_ids},
        headers={**admin, "If-None-Match": etag},
    )
    assert again.status_code == 304
    other = await api_client.get(
        "/ui/grid/ti_summaries/etl", params={"run_ids": run_ids[:1]}, headers=admin
    )
    assert other.headers["etag"] != etag


async def test_gantt_shows_every_try(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    gantt = await _get(
        api_client,
        contract,
        api_app,
        "/ui/gantt/etl/manual__2025-03-02T06:00:00+00:00",
        admin,
    )
    tries = [(t["task_id"], t["try_number"]) for t in gantt["task_instances"]]
    assert ("transform", 1) in tries and ("transform", 2) in tries
    missing = await api_client.get("/ui/gantt/etl/nope", headers=admin)
    assert missing.status_code == 404


async def test_calendar_counts_runs_per_day(
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
) -> None:
    daily = await _get(
        api_client,
        contract,
        api_app,
        "/ui/calendar/etl",
        admin,
        granularity="daily",
        logical_date_gte=T0.isoformat(),
    )
    assert daily["total_entries"] == 3
    assert {d["state"] for d in daily["dag_runs"]} == {"success", "failed", "running"}
    hourly = await _get(
        api_client,
        contract,
        api_app,
        "/ui/calendar/etl",
        admin,
        granularity="hourly",
        logical_date_lt=(T0 + timedelta(hours=1)).isoformat(),
    )
    assert hourly["dag_runs"] == [{"date": "2025-03-01T06:00:00Z", "state": "success", "count": 1}]


@pytest.mark.parametrize(
    "url",
    [
        "/ui/backfills?dag_id=etl&active=true",
        "/ui/teams",
        "/ui/dags/etl/dagRuns/manual__2025-03-01T06:00:00+00:00/deadlines",
        "/ui/dags/etl/deadlineAlerts",
        "/ui/partitioned_dag_runs?dag_id=etl",
        "/ui/next_run_assets/etl",
        "/ui/dependencies",
        "/ui/dependencies?node_id=dag:etl",
        "/ui/connections/hook_meta",
    ],
)
async def test_features_leoflow_lacks_answer_valid_empty_payloads(
    *,
    api_client: httpx.AsyncClient,
    api_app: FastAPI,
    contract: UiContract,
    history: History,
    admin: dict[str, str],
    url: str,
) -> None:
    path, _, query = url.partition("?")
    params = dict(part.split("=") for part in query.split("&")) if query else {}
    await _get(api_client, contract, api_app, path, admin, **params)


async def test_connection_types_fill_the_form(
    api_client: httpx.AsyncClient, auth_headers: AuthHeaders, admin: dict[str, str]
) -> None:
    hooks = (await api_client.get("/ui/connections/hook_meta", headers=admin)).json()
    types = {h["connection_type"] for h in hooks}
    assert {"http", "postgres", "generic", "aws"} <= types
    viewer = await auth_headers("Viewer")
    denied = await api_client.get("/ui/connections/hook_meta", headers=viewer)
    assert denied.status_code == 403


async def test_pending_partitioned_run_is_404(
    api_client: httpx.AsyncClient, history: History, admin: dict[str, str]
) -> None:
    response = await api_client.get(
        "/ui/pending_partitioned_dag_run/etl", params={"partition_key": "p"}, headers=admin
    )
    assert response.status_code == 404
