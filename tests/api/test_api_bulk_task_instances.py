"""Several task instances at once: the bulk ``PATCH …/dagRuns/{run}/taskInstances`` and the
TaskGroup marks ``PATCH …/taskGroupInstances/{group}`` (and ``…/dry_run``).

Answers are validated against Airflow 3.3.2's schemas by the ``client`` fixture.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx

from harness.airflow_api import admin, bash_spec, client, drive, push, start_run, trigger
from harness.api import AuthHeaders
from leoflow.states import TaskState
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]

GROUPED = {
    "start": [],
    "load.extract": ["start"],
    "load.inner.transform": ["load.extract"],
    "load.inner.write": ["load.inner.transform"],
    "report": ["load.inner.write"],
}


async def _started(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pool: Pool,
    run_id: str,
    states: dict[str, TaskState],
) -> UUID:
    await trigger(client, headers, "etl", run_id=run_id)
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = %s", (run_id,))
        row = await cur.fetchone()
    assert row is not None
    tasks = [
        t["task_id"]
        for t in (await client.get("/api/v2/dags/etl/tasks", headers=headers)).json()["tasks"]
    ]
    await start_run(pool, row[0], tasks)
    await drive(pool, row[0], states)
    run_uuid: UUID = row[0]
    return run_uuid


async def _states(client: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> Any:
    answer = await client.get(f"/api/v2/dags/etl/dagRuns/{run_id}/taskInstances", headers=headers)
    return {t["task_id"]: t["state"] for t in answer.json()["task_instances"]}


async def test_bulk_update_marks_each_task_instance_like_its_single_patch(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(
        client, admin, db_pool, "r1", {"extract": TaskState.SUCCESS, "transform": TaskState.FAILED}
    )
    body = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {"task_id": "transform", "new_state": "success", "note": "fixed by hand"},
                    {"task_id": "load", "new_state": "skipped"},
                    {"task_id": "extract", "new_state": "success"},
                ],
            }
        ]
    }
    answer = await client.patch(
        "/api/v2/dags/etl/dagRuns/r1/taskInstances", json=body, headers=admin
    )
    assert answer.status_code == 200, answer.text
    update = answer.json()["update"]
    assert update["success"] == ["etl.r1.transform[-1]", "etl.r1.load[-1]"]
    # extract is already a success: the single PATCH's 409, reported for that entity only
    assert update["errors"] == [
        {"error": "Task id extract is already in success state", "status_code": 409}
    ]
    assert await _states(client, admin, "r1") == {
        "extract": "success",
        "transform": "success",
        "load": "skipped",
    }
    ti = await client.get("/api/v2/dags/etl/dagRuns/r1/taskInstances/transform", headers=admin)
    assert ti.json()["note"] == "fixed by hand"


async def test_bulk_delete_and_missing_task_instances(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "r1", {})
    path = "/api/v2/dags/etl/dagRuns/r1/taskInstances"
    fail = {"actions": [{"action": "delete", "entities": ["load", "ghost"]}]}
    result = (await client.patch(path, json=fail, headers=admin)).json()["delete"]
    assert result["success"] == [] and result["errors"][0]["status_code"] == 404
    assert "ghost" in result["errors"][0]["error"]
    assert "load" in await _states(client, admin, "r1")

    skip = {
        "actions": [
            {
                "action": "delete",
                "entities": ["load", {"task_id": "ghost"}],
                "action_on_non_existence": "skip",
            },
            {"action": "create", "entities": [{"task_id": "new"}]},
        ]
    }
    answer = (await client.patch(path, json=skip, headers=admin)).json()
    assert answer["delete"] == {"success": ["etl.r1.load[-1]"], "errors": []}
    assert answer["create"]["errors"][0]["status_code"] == 405
    assert set(await _states(client, admin, "r1")) == {"extract", "transform"}


async def test_bulk_across_runs_needs_run_ids_in_the_entities(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "r1", {})
    await _started(client, admin, db_pool, "r2", {})
    body = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {"task_id": "extract", "dag_run_id": "r1", "new_state": "failed"},
                    {
                        "task_id": "extract",
                        "dag_id": "etl",
                        "dag_run_id": "r2",
                        "new_state": "skipped",
                    },
                    {"task_id": "extract", "new_state": "failed"},
                ],
                "action_on_non_existence": "skip",
            }
        ]
    }
    answer = await client.patch(
        "/api/v2/dags/etl/dagRuns/~/taskInstances", json=body, headers=admin
    )
    update = answer.json()["update"]
    assert update["success"] == ["etl.r1.extract[-1]", "etl.r2.extract[-1]"]
    assert update["errors"][0]["status_code"] == 400
    assert (await _states(client, admin, "r1"))["extract"] == "failed"
    assert (await _states(client, admin, "r2"))["extract"] == "skipped"


async def test_a_viewer_cannot_bulk_edit_task_instances(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders, db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "r1", {})
    viewer = await auth_headers("Viewer")
    body = {"actions": [{"action": "delete", "entities": ["load"]}]}
    path = "/api/v2/dags/etl/dagRuns/r1/taskInstances"
    assert (await client.patch(path, json=body, headers=viewer)).status_code == 403
    group = "/api/v2/dags/etl/dagRuns/r1/taskGroupInstances/load"
    assert (await client.patch(group, json={"note": "x"}, headers=viewer)).status_code == 403


async def test_task_group_mark_changes_every_member_and_only_them(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl", edges=GROUPED))
    await _started(
        client,
        admin,
        db_pool,
        "r1",
        {
            "start": TaskState.SUCCESS,
            "load.extract": TaskState.SUCCESS,
            "load.inner.transform": TaskState.FAILED,
            "load.inner.write": TaskState.UPSTREAM_FAILED,
        },
    )
    group = "/api/v2/dags/etl/dagRuns/r1/taskGroupInstances"
    dry = await client.patch(f"{group}/load/dry_run", json={"new_state": "success"}, headers=admin)
    assert dry.status_code == 200, dry.text
    assert sorted(t["task_id"] for t in dry.json()["task_instances"]) == [
        "load.inner.transform",
        "load.inner.write",
    ]
    assert (await _states(client, admin, "r1"))["load.inner.transform"] == "failed"

    mark = await client.patch(
        f"{group}/load", json={"new_state": "success", "note": "ok"}, headers=admin
    )
    assert mark.status_code == 200, mark.text
    assert sorted(t["task_id"] for t in mark.json()["task_instances"]) == [
        "load.inner.transform",
        "load.inner.write",
    ]
    assert await _states(client, admin, "r1") == {
        "start": "success",
        "load.extract": "success",
        "load.inner.transform": "success",
        "load.inner.write": "success",
        "report": None,
    }
    notes = await client.get(
        "/api/v2/dags/etl/dagRuns/r1/taskInstances/load.extract", headers=admin
    )
    assert notes.json()["note"] == "ok"

    again = await client.patch(f"{group}/load.inner", json={"new_state": "success"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["detail"] == "All task instances in the group are already in success state"


async def test_task_group_with_relatives_and_unknown_groups(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl", edges=GROUPED))
    await _started(client, admin, db_pool, "r1", {})
    group = "/api/v2/dags/etl/dagRuns/r1/taskGroupInstances"
    body = {"new_state": "failed", "include_downstream": True}
    dry = await client.patch(f"{group}/load.inner/dry_run", json=body, headers=admin)
    assert sorted(t["task_id"] for t in dry.json()["task_instances"]) == [
        "load.inner.transform",
        "load.inner.write",
        "report",
    ]
    plain = await client.patch(f"{group}/load.inner/dry_run", json={}, headers=admin)
    assert sorted(t["task_id"] for t in plain.json()["task_instances"]) == [
        "load.inner.transform",
        "load.inner.write",
    ]
    unknown = await client.patch(f"{group}/lod", json={"new_state": "success"}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == (
        "Task group 'lod' not found in DAG 'etl' (its task groups: load, load.inner)"
    )
    # "load.e" is a prefix of a task id, not a group
    partial = await client.patch(f"{group}/load.e", json={"new_state": "success"}, headers=admin)
    assert partial.status_code == 404
    no_run = await client.patch(
        "/api/v2/dags/etl/dagRuns/zz/taskGroupInstances/load", json={}, headers=admin
    )
    assert no_run.status_code == 404
