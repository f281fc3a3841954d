"""``GET …/dagRuns/{run}/wait``: NDJSON progress of a run until it finishes, with results."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID

import httpx

from harness.airflow_api import admin, bash_spec, client, drive, push, start_run, trigger
from harness.api import AuthHeaders
from leoflow.states import RunState, TaskState
from leoflow.store import roles, tenants
from leoflow.store.dag_runs import transition_dag_run
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]

WAIT = "/api/v2/dags/etl/dagRuns/r1/wait"


async def _running(client: httpx.AsyncClient, headers: dict[str, str], pool: Pool) -> UUID:
    """Run ``r1`` of ``etl`` started, ``extract`` succeeded with a return value."""
    await push(client, headers, bash_spec("etl"))
    await trigger(client, headers, "etl", run_id="r1")
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'r1'")
        row = await cur.fetchone()
        assert row is not None
        run_uuid: UUID = row[0]
        await conn.execute(
            "INSERT INTO xcom (run_uuid, task_id, key, value) VALUES (%s, 'extract', "
            "'return_value', %s)",
            (run_uuid, json.dumps({"rows": 42}).encode()),
        )
    await start_run(pool, run_uuid, ("extract", "transform", "load"))
    await drive(pool, run_uuid, {"extract": TaskState.SUCCESS})
    return run_uuid


async def _finish_later(pool: Pool, run_uuid: UUID, delay: float) -> None:
    await asyncio.sleep(delay)
    assert await transition_dag_run(pool, run_uuid, RunState.SUCCESS) is not None


async def test_streams_states_until_the_run_finishes_then_the_results(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    run_uuid = await _running(client, admin, db_pool)
    finisher = asyncio.create_task(_finish_later(db_pool, run_uuid, 0.6))
    response = await client.get(
        WAIT,
        params=[("interval", "0.1"), ("result", "extract"), ("result", "load")],
        headers=admin,
    )
    await finisher
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) >= 3  # polled every 0.1 s for about 0.6 s
    assert all(line == {"state": "running"} for line in lines[:-1])
    # load returned nothing, so only extract has a result
    assert lines[-1] == {"state": "success", "results": {"extract": {"rows": 42}}}


async def test_a_finished_run_answers_one_line_and_no_results_unless_asked(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    run_uuid = await _running(client, admin, db_pool)
    await transition_dag_run(db_pool, run_uuid, RunState.FAILED)
    response = await client.get(WAIT, params={"interval": 5}, headers=admin)
    assert response.text == '{"state": "failed"}\n'


async def test_refusals(
    client: httpx.AsyncClient, admin: dict[str, str], auth_headers: AuthHeaders, db_pool: Pool
) -> None:
    run_uuid = await _running(client, admin, db_pool)
    await transition_dag_run(db_pool, run_uuid, RunState.SUCCESS)
    missing = await client.get(
        "/api/v2/dags/etl/dagRuns/zz/wait", params={"interval": 1}, headers=admin
    )
    assert missing.status_code == 404
    assert (await client.get(WAIT, params={"interval": 0}, headers=admin)).status_code == 422
    assert (await client.get(WAIT, headers=admin)).status_code == 422
    tenant_id = await tenants.get_default_tenant_id(db_pool)
    await roles.ensure_roles(db_pool, tenant_id, {"RunsOnly": ["dags:read"]})
    reader = await auth_headers("RunsOnly")
    assert (await client.get(WAIT, params={"interval": 1}, headers=reader)).status_code == 200
    forbidden = await client.get(WAIT, params={"interval": 1, "result": "extract"}, headers=reader)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "User is not authorized to read XCom data for this Dag"
