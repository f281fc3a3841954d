"""Task instances: lists across runs, reads, tries, marking (dry run and real), clearing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
import pytest

from harness.airflow_api import admin, bash_spec, client, drive, push, start_run, trigger
from leoflow.states import TaskState
from leoflow.store.pool import Pool
from leoflow.store.task_instances import list_task_instances

__all__ = ["admin", "client"]

TASKS = ("extract", "transform", "load")
BASE = "/api/v2/dags/etl/dagRuns"


async def _start(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pool: Pool,
    run_id: str,
    states: dict[str, TaskState],
    **body: Any,
) -> UUID:
    run = await trigger(client, headers, "etl", run_id=run_id, **body)
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT r.id FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid "
            "WHERE d.dag_id = 'etl' AND r.run_id = %s",
            (run["dag_run_id"],),
        )
        row = await cur.fetchone()
    assert row is not None
    run_uuid: UUID = row[0]
    await start_run(pool, run_uuid, TASKS)
    await drive(pool, run_uuid, states)
    return run_uuid


@pytest.fixture
async def etl(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    assert (await push(client, admin, bash_spec("etl"))).status_code == 201


async def _states(pool: Pool, run_uuid: UUID) -> dict[str, tuple[str, int]]:
    return {
        ti.task_id: (ti.state.value, ti.try_number)
        for ti in await list_task_instances(pool, run_uuid)
    }


async def test_list_and_read(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    await _start(
        client, admin, db_pool, "r1", {"extract": TaskState.SUCCESS, "transform": TaskState.FAILED}
    )
    await _start(client, admin, db_pool, "r2", {"extract": TaskState.RUNNING})

    one_run = await client.get(f"{BASE}/r1/taskInstances", headers=admin)
    assert one_run.json()["total_entries"] == 3
    by_task = {ti["task_id"]: ti for ti in one_run.json()["task_instances"]}
    assert by_task["extract"]["state"] == "success"
    assert by_task["transform"]["state"] == "failed"
    assert by_task["load"]["state"] is None
    assert by_task["load"]["map_index"] == -1
    assert by_task["extract"]["operator"] == "BashOperator"
    assert by_task["extract"]["dag_version"]["version_number"] == 1

    across = await client.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances",
        params={"state": ["failed", "running"], "order_by": "-run_after"},
        headers=admin,
    )
    assert [(t["dag_run_id"], t["task_id"]) for t in across.json()["task_instances"]] == [
        ("r2", "extract"),
        ("r1", "transform"),
    ]
    no_status = await client.get(
        f"{BASE}/~/taskInstances", params={"state": "no_status", "task_id": "load"}, headers=admin
    )
    assert no_status.json()["total_entries"] == 2
    page = await client.get(
        f"{BASE}/~/taskInstances",
        params={"limit": 2, "offset": 2, "order_by": "task_id"},
        headers=admin,
    )
    assert page.json()["total_entries"] == 6 and len(page.json()["task_instances"]) == 2
    operator = await client.get(
        f"{BASE}/~/taskInstances", params={"operator": "PythonOperator"}, headers=admin
    )
    assert operator.json()["total_entries"] == 0
    pool_filter = await client.get(
        f"{BASE}/~/taskInstances", params={"pool": "default_pool"}, headers=admin
    )
    assert pool_filter.json()["total_entries"] == 6

    ti = await client.get(f"{BASE}/r1/taskInstances/transform", headers=admin)
    assert ti.status_code == 200 and ti.json()["state"] == "failed"
    by_map_index = await client.get(f"{BASE}/r1/taskInstances/transform/-1", headers=admin)
    assert by_map_index.json() == ti.json()
    missing = await client.get(f"{BASE}/r1/taskInstances/nope", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The Task Instance with dag_id: `etl`, run_id: `r1`, task_id: `nope` and "
        "map_index: `-1` was not found"
    }
    no_run = await client.get(f"{BASE}/zzz/taskInstances", headers=admin)
    assert no_run.status_code == 404
    needs_dag = await client.get("/api/v2/dags/~/dagRuns/r1/taskInstances", headers=admin)
    assert needs_dag.status_code == 400

    batch = await client.post(
        "/api/v2/dags/~/dagRuns/~/taskInstances/list",
        json={"dag_run_ids": ["r1"], "state": ["success"]},
        headers=admin,
    )
    assert [t["task_id"] for t in batch.json()["task_instances"]] == ["extract"]

    deps = await client.get(f"{BASE}/r1/taskInstances/load/dependencies", headers=admin)
    assert [d["name"] for d in deps.json()["dependencies"]] == ["Trigger Rule"]
    links = await client.get(f"{BASE}/r1/taskInstances/load/links", headers=admin)
    assert links.json() == {"extra_links": {}, "total_entries": 0}
    mapped = await client.get(f"{BASE}/r1/taskInstances/load/listMapped", headers=admin)
    assert mapped.status_code == 404


async def test_mark_dry_run_then_real(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    run_uuid = await _start(
        client, admin, db_pool, "r1", {"extract": TaskState.SUCCESS, "transform": TaskState.FAILED}
    )
    body = {"new_state": "success", "include_downstream": True}
    dry = await client.patch(f"{BASE}/r1/taskInstances/transform/dry_run", json=body, headers=admin)
    assert dry.status_code == 200
    assert sorted(t["task_id"] for t in dry.json()["task_instances"]) == ["load", "transform"]
    assert (await _states(db_pool, run_uuid))["transform"] == ("failed", 1)

    real = await client.patch(
        f"{BASE}/r1/taskInstances/transform", json={**body, "note": "fixed by hand"}, headers=admin
    )
    assert real.status_code == 200
    (patched,) = real.json()["task_instances"]
    assert patched["state"] == "success" and patched["note"] == "fixed by hand"
    assert await _states(db_pool, run_uuid) == {
        "extract": ("success", 1),
        "transform": ("success", 1),
        "load": ("success", 1),
    }
    again = await client.patch(
        f"{BASE}/r1/taskInstances/transform", json={"new_state": "success"}, headers=admin
    )
    assert again.status_code == 409
    assert again.json() == {"detail": "Task id transform is already in success state"}

    invalid = await client.patch(
        f"{BASE}/r1/taskInstances/transform", json={"new_state": "running"}, headers=admin
    )
    assert invalid.status_code == 422
    unknown_task = await client.patch(
        f"{BASE}/r1/taskInstances/nope", json={"new_state": "failed"}, headers=admin
    )
    assert unknown_task.status_code == 404
    assert unknown_task.json() == {"detail": "Task 'nope' not found in Dag 'etl'"}

    note_only = await client.patch(
        f"{BASE}/r1/taskInstances/extract/-1", json={"note": "checked"}, headers=admin
    )
    assert note_only.json()["task_instances"][0]["note"] == "checked"
    assert note_only.json()["task_instances"][0]["state"] == "success"


async def test_mark_with_past_needs_a_logical_date(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    await _start(
        client,
        admin,
        db_pool,
        "old",
        {"extract": TaskState.FAILED},
        logical_date="2025-01-01T00:00:00Z",
    )
    await _start(
        client,
        admin,
        db_pool,
        "new",
        {"extract": TaskState.FAILED},
        logical_date="2025-01-02T00:00:00Z",
    )
    await _start(client, admin, db_pool, "undated", {"extract": TaskState.FAILED})
    refused = await client.patch(
        f"{BASE}/undated/taskInstances/extract/dry_run",
        json={"new_state": "success", "include_past": True},
        headers=admin,
    )
    assert refused.status_code == 400
    dry = await client.patch(
        f"{BASE}/new/taskInstances/extract/dry_run",
        json={"new_state": "success", "include_past": True},
        headers=admin,
    )
    assert sorted(t["dag_run_id"] for t in dry.json()["task_instances"]) == ["new", "old"]


async def test_clear_task_instances_dry_run_vs_real(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    r1 = await _start(
        client,
        admin,
        db_pool,
        "r1",
        {
            "extract": TaskState.SUCCESS,
            "transform": TaskState.FAILED,
            "load": TaskState.UPSTREAM_FAILED,
        },
        logical_date="2025-01-01T00:00:00Z",
    )
    r2 = await _start(
        client,
        admin,
        db_pool,
        "r2",
        {"extract": TaskState.FAILED},
        logical_date="2025-01-02T00:00:00Z",
    )
    url = "/api/v2/dags/etl/clearTaskInstances"

    # Defaults: dry run, only failed ones, every run.
    dry = await client.post(url, json={}, headers=admin)
    assert dry.status_code == 200
    assert sorted((t["dag_run_id"], t["task_id"]) for t in dry.json()["task_instances"]) == [
        ("r1", "load"),
        ("r1", "transform"),
        ("r2", "extract"),
    ]
    assert (await _states(db_pool, r1))["transform"] == ("failed", 1)

    scoped = await client.post(
        url,
        json={
            "dag_run_id": "r1",
            "task_ids": ["extract"],
            "include_downstream": True,
            "only_failed": False,
        },
        headers=admin,
    )
    assert sorted(t["task_id"] for t in scoped.json()["task_instances"]) == list(sorted(TASKS))
    upstream_only = await client.post(
        url,
        json={
            "dag_run_id": "r1",
            "task_ids": [["load", -1]],
            "include_upstream": True,
            "only_failed": False,
        },
        headers=admin,
    )
    assert upstream_only.json()["total_entries"] == 3
    windowed = await client.post(url, json={"start_date": "2025-01-02T00:00:00Z"}, headers=admin)
    assert [t["dag_run_id"] for t in windowed.json()["task_instances"]] == ["r2"]

    real = await client.post(
        url, json={"dry_run": False, "dag_run_id": "r1", "note": "rerun"}, headers=admin
    )
    assert real.status_code == 200
    assert sorted(t["task_id"] for t in real.json()["task_instances"]) == ["load", "transform"]
    assert all(t["state"] is None and t["note"] == "rerun" for t in real.json()["task_instances"])
    assert await _states(db_pool, r1) == {
        "extract": ("success", 1),
        "transform": ("none", 2),
        "load": ("none", 2),
    }
    assert (await _states(db_pool, r2))["extract"] == ("failed", 1)
    run = await client.get(f"{BASE}/r1", headers=admin)
    assert run.json()["state"] == "queued"

    tries = await client.get(f"{BASE}/r1/taskInstances/transform/tries", headers=admin)
    assert [(t["try_number"], t["state"]) for t in tries.json()["task_instances"]] == [
        (1, "failed"),
        (2, None),
    ]
    first = await client.get(f"{BASE}/r1/taskInstances/transform/tries/1", headers=admin)
    assert first.json()["state"] == "failed"
    same = await client.get(f"{BASE}/r1/taskInstances/transform/-1/tries/1", headers=admin)
    assert same.json() == first.json()
    listed = await client.get(f"{BASE}/r1/taskInstances/transform/-1/tries", headers=admin)
    assert listed.json()["total_entries"] == 2
    missing = await client.get(f"{BASE}/r1/taskInstances/transform/tries/7", headers=admin)
    assert missing.status_code == 404

    conflicting = await client.post(
        url, json={"only_failed": True, "only_running": True}, headers=admin
    )
    assert conflicting.status_code == 422
    no_run = await client.post(url, json={"dag_run_id": "zzz"}, headers=admin)
    assert no_run.status_code == 404


async def test_clear_refuses_running_tasks_when_asked(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    await _start(client, admin, db_pool, "r1", {"extract": TaskState.RUNNING})
    body = {"dry_run": False, "only_failed": False, "only_running": True, "dag_run_id": "r1"}
    refused = await client.post(
        "/api/v2/dags/etl/clearTaskInstances",
        json={**body, "prevent_running_task": True},
        headers=admin,
    )
    assert refused.status_code == 409


async def test_delete_task_instance(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, etl: None
) -> None:
    run_uuid = await _start(client, admin, db_pool, "r1", {"extract": TaskState.SUCCESS})
    deleted = await client.delete(f"{BASE}/r1/taskInstances/load", headers=admin)
    assert deleted.status_code == 200
    assert "load" not in await _states(db_pool, run_uuid)
