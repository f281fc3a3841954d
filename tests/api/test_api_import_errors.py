"""Import errors: Airflow's reads and Leoflow's report/clear endpoints for the Lite watcher."""

from __future__ import annotations

import httpx

from harness.airflow_api import admin, bash_spec, client, push
from harness.api import AuthHeaders

__all__ = ["admin", "client"]


async def test_report_list_get_and_clear(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await push(client, admin, bash_spec("etl"))
    report = {"filename": "etl/dag.py", "stack_trace": "SyntaxError: bad", "dag_id": "etl"}
    created = await client.put("/api/v2/importErrors", json=report, headers=admin)
    assert created.status_code == 201
    error_id = created.json()["import_error_id"]
    updated = await client.put(
        "/api/v2/importErrors", json={**report, "stack_trace": "NameError: x"}, headers=admin
    )
    assert updated.status_code == 200
    assert updated.json()["import_error_id"] == error_id
    assert updated.json()["stack_trace"] == "NameError: x"
    await client.put(
        "/api/v2/importErrors",
        json={"filename": "other/dag.py", "stack_trace": "ImportError: y"},
        headers=admin,
    )

    listed = await client.get("/api/v2/importErrors", params={"order_by": "-id"}, headers=admin)
    assert [e["filename"] for e in listed.json()["import_errors"]] == ["other/dag.py", "etl/dag.py"]
    pattern = await client.get(
        "/api/v2/importErrors", params={"filename_pattern": "ETL"}, headers=admin
    )
    assert pattern.json()["total_entries"] == 1
    one = await client.get(f"/api/v2/importErrors/{error_id}", headers=admin)
    assert one.json()["bundle_name"] is None
    missing = await client.get("/api/v2/importErrors/999999", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The ImportError with import_error_id: `999999` was not found"
    }

    # A DAG whose file fails shows it, and cannot be triggered until it is fixed.
    dag = await client.get("/api/v2/dags/etl", headers=admin)
    assert dag.json()["has_import_errors"] is True
    with_errors = await client.get(
        "/api/v2/dags", params={"has_import_errors": "true"}, headers=admin
    )
    assert [d["dag_id"] for d in with_errors.json()["dags"]] == ["etl"]
    refused = await client.post(
        "/api/v2/dags/etl/dagRuns", json={"logical_date": None}, headers=admin
    )
    assert refused.status_code == 400

    assert (await client.delete("/api/v2/importErrors", headers=admin)).status_code == 400
    cleared = await client.delete(
        "/api/v2/importErrors", params={"filename": "other/dag.py"}, headers=admin
    )
    assert cleared.status_code == 204
    assert (await client.get("/api/v2/importErrors", headers=admin)).json()["total_entries"] == 1
    # Pushing a good version of the DAG clears its errors.
    await push(client, admin, bash_spec("etl", description="fixed"))
    assert (await client.get("/api/v2/importErrors", headers=admin)).json()["total_entries"] == 0
    assert (await client.get("/api/v2/dags/etl", headers=admin)).json()[
        "has_import_errors"
    ] is False


async def test_reporting_needs_push_permission(
    client: httpx.AsyncClient, auth_headers: AuthHeaders
) -> None:
    report = {"filename": "a.py", "stack_trace": "boom"}
    user = await client.put("/api/v2/importErrors", json=report, headers=await auth_headers("User"))
    assert user.status_code == 403
    viewer = await client.get("/api/v2/importErrors", headers=await auth_headers("Viewer"))
    assert viewer.status_code == 200
