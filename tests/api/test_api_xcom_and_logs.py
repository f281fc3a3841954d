"""XCom entries and task logs, read the way the Airflow UI and client read them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from harness.airflow_api import admin, bash_spec, client, drive, push, start_run, trigger
from harness.api import AuthHeaders
from leoflow.api.log_reader import FileLogReader
from leoflow.states import TaskState
from leoflow.store.pool import Pool
from leoflow.store.task_instances import list_task_instances, start_next_try

__all__ = ["admin", "client"]

TI = "/api/v2/dags/etl/dagRuns/r1/taskInstances"


@pytest.fixture
async def run_uuid(client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool) -> UUID:
    await push(client, admin, bash_spec("etl"))
    run = await trigger(client, admin, "etl", run_id="r1")
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = %s", (run["dag_run_id"],))
        row = await cur.fetchone()
    assert row is not None
    uuid: UUID = row[0]
    await start_run(db_pool, uuid, ("extract", "transform", "load"))
    return uuid


async def _put_xcom(
    pool: Pool, run_uuid: UUID, task_id: str, key: str, value: object, *, expired: bool = False
) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO xcom (run_uuid, task_id, key, value, expires_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (
                run_uuid,
                task_id,
                key,
                json.dumps(value).encode(),
                datetime.now(UTC) - timedelta(minutes=1) if expired else None,
            ),
        )


async def test_xcom_list_and_entry(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool, run_uuid: UUID
) -> None:
    await _put_xcom(db_pool, run_uuid, "extract", "return_value", {"rows": 3, "ok": True})
    await _put_xcom(db_pool, run_uuid, "extract", "count", 3)
    await _put_xcom(db_pool, run_uuid, "transform", "return_value", "done")
    await _put_xcom(db_pool, run_uuid, "load", "stale", 1, expired=True)

    listed = await client.get(f"{TI}/extract/xcomEntries", headers=admin)
    assert listed.status_code == 200
    assert [(e["task_id"], e["key"]) for e in listed.json()["xcom_entries"]] == [
        ("extract", "count"),
        ("extract", "return_value"),
    ]
    everywhere = await client.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries", params={"limit": 50}, headers=admin
    )
    assert everywhere.json()["total_entries"] == 3
    by_key = await client.get(
        "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries",
        params={"xcom_key": "return_value", "order_by": "-task_id"},
        headers=admin,
    )
    assert [e["task_id"] for e in by_key.json()["xcom_entries"]] == ["transform", "extract"]

    entry = await client.get(f"{TI}/extract/xcomEntries/return_value", headers=admin)
    assert entry.json()["value"] == {"rows": 3, "ok": True}
    assert entry.json()["map_index"] == -1 and entry.json()["run_id"] == "r1"
    text = await client.get(
        f"{TI}/extract/xcomEntries/return_value", params={"stringify": "true"}, headers=admin
    )
    assert text.json()["value"] == "{'rows': 3, 'ok': True}"
    missing = await client.get(f"{TI}/load/xcomEntries/stale", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "XCom entry with key: `stale` not found"}


async def test_xcom_needs_permission(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, run_uuid: UUID
) -> None:
    nobody = await client.get(f"{TI}/extract/xcomEntries", headers={})
    assert nobody.status_code == 401
    viewer = await client.get(f"{TI}/extract/xcomEntries", headers=await auth_headers("Viewer"))
    assert viewer.status_code == 200


def _write_log(root: Path, try_number: int, lines: list[dict[str, object] | str]) -> Path:
    path = root / "default" / "etl" / "r1" / "extract" / f"{try_number}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return path


async def test_logs_json_ndjson_continuation_and_full_content(
    *,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    api_app: FastAPI,
    db_pool: Pool,
    run_uuid: UUID,
    tmp_path: Path,
) -> None:
    api_app.state.log_reader = FileLogReader(tmp_path)
    await drive(db_pool, run_uuid, {"extract": TaskState.RUNNING})
    log_file = _write_log(
        tmp_path,
        1,
        [
            {
                "timestamp": "2025-01-01T00:00:00Z",
                "level": "info",
                "stream": "stdout",
                "event": "hello",
            },
            "a plain line",
        ],
    )
    first = await client.get(f"{TI}/extract/logs/1", headers=admin)
    assert first.status_code == 200
    assert [m["event"] for m in first.json()["content"]] == ["hello", "a plain line"]
    assert first.json()["content"][0]["stream"] == "stdout"
    token = first.json()["continuation_token"]
    assert token

    with log_file.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"event": "more", "level": "info"}) + "\n")
        handle.write('{"event": "half a li')  # not finished: waits for the next read
    resumed = await client.get(f"{TI}/extract/logs/1", params={"token": token}, headers=admin)
    assert [m["event"] for m in resumed.json()["content"]] == ["more"]

    streamed = await client.get(
        f"{TI}/extract/logs/1", headers={**admin, "Accept": "application/x-ndjson"}
    )
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    events = [json.loads(line)["event"] for line in streamed.text.splitlines()]
    assert events == ["hello", "a plain line", "more"]
    assert streamed.headers["Airflow-Continuation-Token"]

    full = await client.get(
        f"{TI}/extract/logs/1", params={"token": token, "full_content": "true"}, headers=admin
    )
    assert len(full.json()["content"]) == 3

    bad = await client.get(f"{TI}/extract/logs/1", params={"token": "garbage!"}, headers=admin)
    assert bad.status_code == 400
    future = await client.get(f"{TI}/extract/logs/2", headers=admin)
    assert future.status_code == 404
    assert future.json() == {"detail": "TaskInstance not found"}


async def test_logs_of_a_finished_try_have_no_token(
    *,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    api_app: FastAPI,
    db_pool: Pool,
    run_uuid: UUID,
    tmp_path: Path,
) -> None:
    api_app.state.log_reader = FileLogReader(tmp_path)
    await drive(db_pool, run_uuid, {"extract": TaskState.FAILED})
    _write_log(tmp_path, 1, [{"event": "boom", "level": "error"}])
    (ti,) = [t for t in await list_task_instances(db_pool, run_uuid) if t.task_id == "extract"]
    await start_next_try(db_pool, ti.id, 1, to_state=TaskState.NONE, by_operator=True)

    done = await client.get(f"{TI}/extract/logs/1", headers=admin)
    assert done.json()["continuation_token"] is None
    assert done.json()["content"][0]["event"] == "boom"
    nothing = await client.get(f"{TI}/extract/logs/2", headers=admin)
    assert nothing.json()["continuation_token"] is None
    assert "No log was written" in nothing.json()["content"][0]["event"]
    streamed = await client.get(
        f"{TI}/extract/logs/1", headers={**admin, "Accept": "application/x-ndjson"}
    )
    assert "Airflow-Continuation-Token" not in streamed.headers
    external = await client.get(f"{TI}/extract/externalLogUrl/1", headers=admin)
    assert external.status_code == 400
