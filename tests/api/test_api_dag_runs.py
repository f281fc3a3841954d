"""DAG runs: trigger, list (one DAG and ``~``), batch list, mark, note, clear and delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from harness.airflow_api import admin, bash_spec, client, drive, push, start_run, trigger
from leoflow.states import TaskState
from leoflow.store.pool import Pool
from leoflow.store.task_instances import list_task_instances

__all__ = ["admin", "client"]

TASKS = ("extract", "transform", "load")


async def _run_uuid(pool: Pool, dag_id: str, run_id: str) -> UUID:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT r.id FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            "WHERE d.dag_id = %s AND r.run_id = %s",
            (dag_id, run_id),
        )
        row = await cur.fetchone()
    assert row is not None
    run_uuid: UUID = row[0]
    return run_uuid


async def _run_ids(
    client: httpx.AsyncClient, headers: dict[str, str], dag_id: str, **params: Any
) -> list[str]:
    response = await client.get(f"/api/v2/dags/{dag_id}/dagRuns", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [r["dag_run_id"] for r in response.json()["dag_runs"]]


async def test_trigger_with_conf_and_logical_date(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, bash_spec("etl"))
    run = await trigger(client, admin, "etl", conf={"day": "2025-01-02", "n": 3}, note="by hand")
    assert run["state"] == "queued"
    assert run["run_type"] == "manual"
    assert run["triggered_by"] == "rest_api"
    assert run["conf"] == {"day": "2025-01-02", "n": 3}
    assert run["note"] == "by hand"
    assert run["logical_date"] is None
    assert run["dag_run_id"].startswith("manual__")
    assert run["dag_versions"][0]["version_number"] == 1

    dated = await trigger(
        client, admin, "etl", logical_date="2025-03-01T00:00:00Z", run_id="backdated"
    )
    assert dated["logical_date"] == "2025-03-01T00:00:00Z"
    assert dated["data_interval_start"] == "2025-03-01T00:00:00Z"

    got = await client.get("/api/v2/dags/etl/dagRuns/backdated", headers=admin)
    assert got.json() == dated

    duplicate = await client.post(
        "/api/v2/dags/etl/dagRuns",
        json={"dag_run_id": "backdated", "logical_date": None},
        headers=admin,
    )
    assert duplicate.status_code == 409
    missing_field = await client.post("/api/v2/dags/etl/dagRuns", json={}, headers=admin)
    assert missing_field.status_code == 422
    assert missing_field.json()["detail"][0]["loc"] == ["body", "logical_date"]
    naive = await client.post(
        "/api/v2/dags/etl/dagRuns", json={"logical_date": "2025-01-01T00:00:00"}, headers=admin
    )
    assert naive.status_code == 422
    unknown = await client.post(
        "/api/v2/dags/nope/dagRuns", json={"logical_date": None}, headers=admin
    )
    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "Dag with dag_id: 'nope' not found"}
    ui = await client.post(
        "/api/v2/dags/etl/dagRuns",
        json={"logical_date": None, "dag_run_id": "from-ui"},
        headers={**admin, "Referer": "http://localhost/dags/etl"},
    )
    assert ui.json()["triggered_by"] == "ui"


async def test_trigger_requires_params_without_default(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    spec = bash_spec("needs", params_schema={"target": {"type": "string"}})
    await push(client, admin, spec)
    refused = await client.post(
        "/api/v2/dags/needs/dagRuns", json={"logical_date": None}, headers=admin
    )
    assert refused.status_code == 400
    assert "target" in refused.json()["detail"]
    accepted = await trigger(client, admin, "needs", conf={"target": "prod"})
    assert accepted["conf"] == {"target": "prod"}


async def test_list_across_dags_with_filters_and_order(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for dag_id in ("a", "b"):
        await push(client, admin, bash_spec(dag_id))
    await trigger(client, admin, "a", run_id="a1", logical_date="2025-01-01T00:00:00Z")
    await trigger(client, admin, "a", run_id="a2", logical_date="2025-01-02T00:00:00Z")
    await trigger(client, admin, "b", run_id="b1", logical_date="2025-01-03T00:00:00Z")
    await client.patch("/api/v2/dags/a/dagRuns/a1", json={"state": "success"}, headers=admin)

    assert await _run_ids(client, admin, "~", order_by="-logical_date") == ["b1", "a2", "a1"]
    assert await _run_ids(client, admin, "a", order_by="run_id") == ["a1", "a2"]
    assert await _run_ids(client, admin, "~", state=["queued"], order_by="run_id") == ["a2", "b1"]
    assert await _run_ids(
        client, admin, "~", logical_date_gte="2025-01-02T00:00:00Z", order_by="run_id"
    ) == ["a2", "b1"]
    assert await _run_ids(client, admin, "~", run_id_pattern="A", order_by="run_id") == [
        "a1",
        "a2",
    ]
    page = await client.get(
        "/api/v2/dags/~/dagRuns",
        params={"limit": 1, "offset": 1, "order_by": "run_id"},
        headers=admin,
    )
    assert page.json()["total_entries"] == 3
    assert [r["dag_run_id"] for r in page.json()["dag_runs"]] == ["a2"]
    missing = await client.get("/api/v2/dags/nope/dagRuns", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "The Dag with ID: `nope` was not found"}

    batch = await client.post(
        "/api/v2/dags/~/dagRuns/list",
        json={"dag_ids": ["a"], "states": ["success"], "order_by": "-run_after"},
        headers=admin,
    )
    assert batch.status_code == 200
    assert [r["dag_run_id"] for r in batch.json()["dag_runs"]] == ["a1"]
    not_wildcard = await client.post("/api/v2/dags/a/dagRuns/list", json={}, headers=admin)
    assert not_wildcard.status_code == 422


async def test_mark_note_and_delete(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await trigger(client, admin, "etl", run_id="r1")
    run_uuid = await _run_uuid(db_pool, "etl", "r1")
    await start_run(db_pool, run_uuid, TASKS)
    await drive(db_pool, run_uuid, {"extract": TaskState.SUCCESS, "transform": TaskState.RUNNING})

    running = await client.delete("/api/v2/dags/etl/dagRuns/r1", headers=admin)
    assert running.status_code == 409
    assert "cannot be deleted in running state" in running.json()["detail"]

    noted = await client.patch(
        "/api/v2/dags/etl/dagRuns/r1", json={"note": "looked at it"}, headers=admin
    )
    assert noted.json()["note"] == "looked at it" and noted.json()["state"] == "running"

    failed = await client.patch(
        "/api/v2/dags/etl/dagRuns/r1", json={"state": "failed"}, headers=admin
    )
    assert failed.status_code == 200 and failed.json()["state"] == "failed"
    states = {ti.task_id: ti.state for ti in await list_task_instances(db_pool, run_uuid)}
    assert states == {
        "extract": TaskState.SUCCESS,
        "transform": TaskState.FAILED,
        "load": TaskState.SKIPPED,
    }
    masked = await client.patch(
        "/api/v2/dags/etl/dagRuns/r1",
        params={"update_mask": "note"},
        json={"note": "only this", "state": "success"},
        headers=admin,
    )
    assert masked.json()["state"] == "failed" and masked.json()["note"] == "only this"
    bad = await client.patch(
        "/api/v2/dags/etl/dagRuns/r1", json={"state": "running"}, headers=admin
    )
    assert bad.status_code == 422

    deleted = await client.delete("/api/v2/dags/etl/dagRuns/r1", headers=admin)
    assert deleted.status_code == 204
    gone = await client.get("/api/v2/dags/etl/dagRuns/r1", headers=admin)
    assert gone.status_code == 404
    assert gone.json() == {"detail": "The DagRun with dag_id: `etl` and run_id: `r1` was not found"}


async def test_clear_run_dry_run_then_real(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await trigger(client, admin, "etl", run_id="r1")
    run_uuid = await _run_uuid(db_pool, "etl", "r1")
    await start_run(db_pool, run_uuid, TASKS)
    await drive(
        db_pool,
        run_uuid,
        {
            "extract": TaskState.SUCCESS,
            "transform": TaskState.FAILED,
            "load": TaskState.UPSTREAM_FAILED,
        },
    )
    await client.patch("/api/v2/dags/etl/dagRuns/r1", json={"state": "failed"}, headers=admin)

    dry = await client.post(
        "/api/v2/dags/etl/dagRuns/r1/clear", json={"only_failed": True}, headers=admin
    )
    assert dry.status_code == 200
    assert sorted(ti["task_id"] for ti in dry.json()["task_instances"]) == ["load", "transform"]
    unchanged = {ti.task_id: ti.state for ti in await list_task_instances(db_pool, run_uuid)}
    assert unchanged["transform"] is TaskState.FAILED

    real = await client.post(
        "/api/v2/dags/etl/dagRuns/r1/clear",
        json={"dry_run": False, "only_failed": True, "note": "retrying"},
        headers=admin,
    )
    assert real.status_code == 200
    assert real.json()["state"] == "queued" and real.json()["note"] == "retrying"
    after = {
        ti.task_id: (ti.state, ti.try_number) for ti in await list_task_instances(db_pool, run_uuid)
    }
    assert after == {
        "extract": (TaskState.SUCCESS, 1),
        "transform": (TaskState.NONE, 2),
        "load": (TaskState.NONE, 2),
    }


async def test_values_postgres_refuses_are_400_not_500(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, bash_spec("etl"))
    nul_conf = await client.post(
        "/api/v2/dags/etl/dagRuns",
        json={"logical_date": None, "conf": {"k": "a\u0000b"}},
        headers=admin,
    )
    assert nul_conf.status_code == 400
    assert nul_conf.json()["detail"].startswith("Invalid value in the request")
    nul_id = await client.get("/api/v2/dags/etl/dagRuns/a%00b", headers=admin)
    assert nul_id.status_code == 400
    huge = await client.get(
        "/api/v2/dags/etl/dagVersions", params={"version_number": 2**40}, headers=admin
    )
    assert huge.status_code == 200 and huge.json()["total_entries"] == 0


async def test_a_logical_date_beyond_the_utc_calendar_is_400_and_triggers_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, bash_spec("etl"))
    for logical_date in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        answer = await client.post(
            "/api/v2/dags/etl/dagRuns", json={"logical_date": logical_date}, headers=admin
        )
        assert (answer.status_code, answer.json()) == (
            400,
            {"detail": "Invalid value in the request: date value out of range"},
        )
    assert await _run_ids(client, admin, "etl") == []
