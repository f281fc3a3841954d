"""Several runs at once: the bulk ``PATCH /dags/{dag_id}/dagRuns``, ``POST
/dags/{dag_id}/clearDagRuns``, and who triggered a run.

Every answer goes through the ``client`` fixture, which validates it against Airflow 3.3.2's
schema for the operation.
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


async def _started(
    client: httpx.AsyncClient, headers: dict[str, str], pool: Pool, dag_id: str, run_id: str
) -> UUID:
    """A triggered run, started, with ``extract`` succeeded and ``transform`` failed."""
    await trigger(client, headers, dag_id, run_id=run_id)
    run_uuid = await _run_uuid(pool, dag_id, run_id)
    await start_run(pool, run_uuid, ("extract", "transform", "load"))
    await drive(pool, run_uuid, {"extract": TaskState.SUCCESS, "transform": TaskState.FAILED})
    return run_uuid


async def _run(client: httpx.AsyncClient, headers: dict[str, str], dag: str, run: str) -> Any:
    response = await client.get(f"/api/v2/dags/{dag}/dagRuns/{run}", headers=headers)
    return response.json() if response.status_code == 200 else None


async def test_bulk_update_marks_and_annotates_runs(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "etl", "a")
    await _started(client, admin, db_pool, "etl", "b")
    body = {
        "actions": [
            {
                "action": "update",
                "entities": [
                    {"dag_run_id": "a", "state": "failed", "note": "bad input"},
                    {"dag_run_id": "b", "state": "success"},
                ],
            }
        ]
    }
    response = await client.patch("/api/v2/dags/etl/dagRuns", json=body, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "create": None,
        "update": {"success": ["etl.a", "etl.b"], "errors": []},
        "delete": None,
    }
    run_a, run_b = await _run(client, admin, "etl", "a"), await _run(client, admin, "etl", "b")
    assert (run_a["state"], run_a["note"]) == ("failed", "bad input")
    assert (run_b["state"], run_b["note"]) == ("success", None)
    tis = await client.get("/api/v2/dags/etl/dagRuns/b/taskInstances", headers=admin)
    # marking a run success settles its unfinished task instances (load was never run)
    assert {ti["task_id"]: ti["state"] for ti in tis.json()["task_instances"]}["load"] == "success"


async def test_bulk_update_mask_limits_the_fields(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "etl", "a")
    body = {
        "actions": [
            {
                "action": "update",
                "update_mask": ["note"],
                "entities": [{"dag_run_id": "a", "state": "failed", "note": "only this"}],
            }
        ]
    }
    response = await client.patch("/api/v2/dags/etl/dagRuns", json=body, headers=admin)
    assert response.json()["update"]["success"] == ["etl.a"]
    run = await _run(client, admin, "etl", "a")
    assert (run["state"], run["note"]) == ("running", "only this")


async def test_missing_runs_fail_or_are_skipped_and_running_runs_are_not_deleted(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "etl", "running")
    await trigger(client, admin, "etl", run_id="queued")
    fail = {"action": "delete", "entities": ["queued", "ghost"]}
    answer = await client.patch("/api/v2/dags/etl/dagRuns", json={"actions": [fail]}, headers=admin)
    errors = answer.json()["delete"]["errors"]
    assert answer.json()["delete"]["success"] == []
    assert errors[0]["status_code"] == 404 and "ghost" in errors[0]["error"]
    assert await _run(client, admin, "etl", "queued") is not None  # nothing was deleted

    skip = {**fail, "entities": ["queued", "ghost", "running"], "action_on_non_existence": "skip"}
    answer = await client.patch("/api/v2/dags/etl/dagRuns", json={"actions": [skip]}, headers=admin)
    result = answer.json()["delete"]
    assert result["success"] == ["etl.queued"]
    assert [e["status_code"] for e in result["errors"]] == [409]
    assert "cannot be deleted in running state" in result["errors"][0]["error"]
    assert await _run(client, admin, "etl", "queued") is None
    assert await _run(client, admin, "etl", "running") is not None


async def test_create_is_refused_and_wildcard_entities_need_a_dag_id(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await push(client, admin, bash_spec("other"))
    await trigger(client, admin, "etl", run_id="x")
    await trigger(client, admin, "other", run_id="y")
    body = {
        "actions": [
            {"action": "create", "entities": [{"dag_run_id": "new"}]},
            {
                "action": "update",
                "entities": [
                    {"dag_run_id": "x", "dag_id": "etl", "note": "n1"},
                    {"dag_run_id": "y", "dag_id": "other", "note": "n2"},
                    {"dag_run_id": "z", "note": "no dag"},
                ],
                "action_on_non_existence": "skip",
            },
        ]
    }
    answer = (await client.patch("/api/v2/dags/~/dagRuns", json=body, headers=admin)).json()
    assert answer["create"]["errors"][0]["status_code"] == 405
    assert "trigger" in answer["create"]["errors"][0]["error"]
    assert answer["update"]["success"] == ["etl.x", "other.y"]
    assert answer["update"]["errors"][0]["status_code"] == 400
    assert (await _run(client, admin, "other", "y"))["note"] == "n2"


async def test_a_viewer_cannot_bulk_edit_runs(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders
) -> None:
    await push(client, admin, bash_spec("etl"))
    await trigger(client, admin, "etl", run_id="x")
    viewer = await auth_headers("Viewer")
    body = {"actions": [{"action": "delete", "entities": ["x"]}]}
    assert (
        await client.patch("/api/v2/dags/etl/dagRuns", json=body, headers=viewer)
    ).status_code == 403
    assert (
        await client.post("/api/v2/dags/etl/clearDagRuns", json={}, headers=viewer)
    ).status_code == 403


async def test_clear_dag_runs_dry_run_then_for_real(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "etl", "a")
    await _started(client, admin, db_pool, "etl", "b")
    runs = [{"dag_run_id": "a"}, {"dag_run_id": "b"}, {"dag_run_id": "a"}]
    dry = await client.post(
        "/api/v2/dags/etl/clearDagRuns", json={"dag_runs": runs, "only_failed": True}, headers=admin
    )
    assert dry.status_code == 200, dry.text
    assert [(t["dag_run_id"], t["task_id"]) for t in dry.json()["task_instances"]] == [
        ("a", "transform"),
        ("b", "transform"),
    ]
    assert (await _run(client, admin, "etl", "a"))["state"] == "running"  # nothing changed

    real = await client.post(
        "/api/v2/dags/etl/clearDagRuns",
        json={"dag_runs": runs, "only_failed": True, "dry_run": False, "note": "retry"},
        headers=admin,
    )
    assert real.status_code == 200, real.text
    assert [(r["dag_run_id"], r["state"], r["note"]) for r in real.json()["dag_runs"]] == [
        ("a", "queued", "retry"),
        ("b", "queued", "retry"),
    ]
    tis = await client.get("/api/v2/dags/etl/dagRuns/a/taskInstances", headers=admin)
    states = {t["task_id"]: (t["state"], t["try_number"]) for t in tis.json()["task_instances"]}
    assert states["transform"] == (None, 2)
    assert states["extract"] == ("success", 1)


async def test_clear_dag_runs_refuses_what_it_cannot_do(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await _started(client, admin, db_pool, "etl", "a")
    path = "/api/v2/dags/etl/clearDagRuns"
    missing = {"dry_run": False, "dag_runs": [{"dag_run_id": "a"}, {"dag_run_id": "ghost"}]}
    answer = await client.post(path, json=missing, headers=admin)
    assert answer.status_code == 404 and "ghost" in answer.json()["detail"]
    assert (await _run(client, admin, "etl", "a"))["state"] == "running"
    other = {"dag_runs": [{"dag_run_id": "a", "dag_id": "other"}]}
    assert (await client.post(path, json=other, headers=admin)).status_code == 400
    wildcard = {"dag_runs": [{"dag_run_id": "a"}]}
    answer = await client.post("/api/v2/dags/~/clearDagRuns", json=wildcard, headers=admin)
    assert answer.status_code == 400 and "concrete dag_id" in answer.json()["detail"]
    partitions = await client.post(path, json={"partition_key": "2025-01"}, headers=admin)
    assert partitions.status_code == 400
    assert "does not support partitioned runs" in partitions.json()["detail"]
    across = {"dag_runs": [{"dag_run_id": "a", "dag_id": "etl"}]}
    answer = await client.post("/api/v2/dags/~/clearDagRuns", json=across, headers=admin)
    assert answer.status_code == 200 and answer.json()["total_entries"] == 3


async def test_the_triggering_user_is_recorded_and_filterable(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders, db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    user = await auth_headers("User")
    me = (await client.get("/ui/auth/me", headers=user)).json()
    run = await trigger(client, user, "etl", run_id="mine")
    assert run["triggering_user_name"] == me["username"]
    await trigger(client, admin, "etl", run_id="theirs")
    listed = await client.get("/api/v2/dags/etl/dagRuns", headers=admin)
    by_id = {r["dag_run_id"]: r["triggering_user_name"] for r in listed.json()["dag_runs"]}
    assert by_id["mine"] == me["username"] != by_id["theirs"]
    grid = await client.get(
        "/ui/grid/runs/etl", params={"triggering_user": me["username"]}, headers=admin
    )
    assert [r["run_id"] for r in grid.json()] == ["mine"]
