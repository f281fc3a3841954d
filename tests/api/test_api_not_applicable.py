"""Airflow features Leoflow does not have: reads answer a true, schema-valid "none", writes and
actions a 400 naming the feature (docs/api.md)."""

from __future__ import annotations

import httpx
import pytest

from harness.airflow_api import admin, bash_spec, client, push, start_run, trigger
from harness.api import AuthHeaders
from leoflow.api.routes.not_supported import OPERATIONS, Operation
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/v2/plugins", {"plugins": [], "total_entries": 0}),
        ("/api/v2/plugins/importErrors", {"import_errors": [], "total_entries": 0}),
        ("/api/v2/providers", {"providers": [], "total_entries": 0}),
        ("/api/v2/pools", {"pools": [], "total_entries": 0}),
        ("/api/v2/assets", {"assets": [], "total_entries": 0}),
        ("/api/v2/assets/events", {"asset_events": [], "total_entries": 0}),
        ("/api/v2/assets/aliases", {"asset_aliases": [], "total_entries": 0}),
        ("/api/v2/backfills?dag_id=etl", {"backfills": [], "total_entries": 0}),
        ("/api/v2/config", {"sections": []}),
        ("/api/v2/dags/etl/assets/queuedEvents", {"queued_events": [], "total_entries": 0}),
        ("/api/v2/dagWarnings", {"dag_warnings": [], "total_entries": 0}),
    ],
)
async def test_empty_collections(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, expected: dict[str, object]
) -> None:
    await push(client, admin, bash_spec("etl"))
    response = await client.get(path, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    "path",
    ["/api/v2/pools/default_pool", "/api/v2/backfills/1", "/api/v2/config/section/core/option/x"],
)
async def test_nothing_to_find(client: httpx.AsyncClient, admin: dict[str, str], path: str) -> None:
    response = await client.get(path, headers=admin)
    assert response.status_code == 404
    assert "detail" in response.json()


def _concrete(path: str) -> str:
    values = {"dag_id": "etl", "dag_run_id": "r1", "task_id": "extract"}
    for part in [p for p in path.split("/") if p.startswith("{")]:
        name = part[1:-1]
        path = path.replace(part, values.get(name, "7" if name.endswith(_NUMERIC) else "x"))
    return "/api/v2" + path


_NUMERIC = ("_id", "_index", "_number")


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.operation_id)
async def test_features_leoflow_lacks_are_refused_with_the_reason(
    client: httpx.AsyncClient, admin: dict[str, str], operation: Operation
) -> None:
    """Writes are 400, reads of one item 404; the detail names the feature, why it is absent
    and what to use instead."""
    response = await client.request(operation.method, _concrete(operation.path), headers=admin)
    assert response.status_code == (404 if operation.method == "GET" else 400), response.text
    detail = response.json()["detail"]
    assert detail.startswith(f"Leoflow does not support {operation.feature.name}: ")
    assert detail == operation.feature.detail


async def test_refusals_check_permissions_first(
    client: httpx.AsyncClient, auth_headers: AuthHeaders
) -> None:
    viewer = await auth_headers("Viewer")
    assert (await client.post("/api/v2/pools", headers=viewer)).status_code == 403
    assert (await client.put("/api/v2/parseDagFile/x")).status_code == 401


async def test_the_task_state_store_is_empty(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    await push(client, admin, bash_spec("etl"))
    await trigger(client, admin, "etl", run_id="r1")
    async with db_pool.connection() as conn:
        cur = await conn.execute("SELECT id FROM dag_runs WHERE run_id = 'r1'")
        row = await cur.fetchone()
    assert row is not None
    await start_run(db_pool, row[0], ["extract"])
    path = "/api/v2/dags/etl/dagRuns/r1/taskInstances/extract/state-store"
    response = await client.get(path, headers=admin)
    assert response.json() == {"task_state_store": [], "total_entries": 0}
    missing = await client.get(path.replace("extract", "nope"), headers=admin)
    assert missing.status_code == 404
