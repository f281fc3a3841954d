"""DAGs, versions, sources, tasks, tags and stats against a real database.

Every documented JSON answer is validated against Airflow 3.3.2's schema by the ``client``
fixture.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.airflow_api import admin, bash_spec, client, push, trigger
from harness.api import AuthHeaders
from leoflow.store.pool import Pool

__all__ = ["admin", "client"]


async def _dag_ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = await client.get("/api/v2/dags", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [d["dag_id"] for d in response.json()["dags"]]


async def test_version_registration_is_idempotent_by_content(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    spec = bash_spec("etl", tags=["team-a"], owner="data", description="nightly load")
    first = await push(client, admin, spec)
    assert first.status_code == 201, first.text
    assert first.json()["version_number"] == 1 and first.json()["created"] is True

    again = await push(client, admin, {**spec, "dag_version": "2024.1-label"})
    assert again.status_code == 200
    assert again.json()["version_id"] == first.json()["version_id"]
    assert again.json()["created"] is False

    changed = await push(client, admin, {**spec, "description": "now hourly"})
    assert changed.status_code == 201
    assert changed.json()["version_number"] == 2

    versions = await client.get(
        "/api/v2/dags/etl/dagVersions", params={"order_by": "-version_number"}, headers=admin
    )
    assert [v["version_number"] for v in versions.json()["dag_versions"]] == [2, 1]
    assert versions.json()["total_entries"] == 2
    one = await client.get("/api/v2/dags/etl/dagVersions/1", headers=admin)
    assert one.json()["dag_id"] == "etl" and one.json()["version_number"] == 1
    missing = await client.get("/api/v2/dags/etl/dagVersions/9", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {
        "detail": "The DagVersion with dag_id: `etl` and version_number: `9` was not found"
    }

    dag = (await client.get("/api/v2/dags/etl", headers=admin)).json()
    assert dag["description"] == "now hourly"
    assert dag["owners"] == ["data"]
    assert dag["tags"] == [{"name": "team-a", "dag_id": "etl", "dag_display_name": "etl"}]


async def test_invalid_spec_is_422_with_the_field_path_and_stores_nothing(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    spec = bash_spec("broken")
    spec["tasks"][1]["retries"] = -1
    spec["tasks"][2]["colour"] = "red"
    response = await push(client, admin, spec)
    assert response.status_code == 422
    details = response.json()["detail"]
    assert [d["loc"] for d in details] == [
        ["body", "tasks", 1, "retries"],
        ["body", "tasks", 2, "colour"],
    ]
    assert details[0]["msg"].startswith("tasks[1] (transform).retries: ")
    assert "unknown key 'colour'" in details[1]["msg"]

    graph = bash_spec("broken", {"a": [], "b": ["nope"]})
    response = await push(client, admin, graph)
    assert response.status_code == 422
    (detail,) = response.json()["detail"]
    assert "depends_on names unknown task 'nope'" in detail["msg"]
    assert (await client.get("/api/v2/dags/broken", headers=admin)).status_code == 404

    mismatch = await push(client, admin, {**bash_spec("other"), "dag_id": "other"})
    assert mismatch.status_code == 201
    wrong_url = await client.post(
        "/api/v2/dags/elsewhere/versions", json=bash_spec("other"), headers=admin
    )
    assert wrong_url.status_code == 422
    assert wrong_url.json()["detail"][0]["loc"] == ["body", "dag_id"]


async def test_list_filters_ordering_and_pagination(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    for dag_id, tags, owner in (
        ("sales_daily", ["sales", "daily"], "ann"),
        ("sales_hourly", ["sales"], "bob"),
        ("hr_weekly", ["hr"], "ann"),
    ):
        assert (
            await push(client, admin, bash_spec(dag_id, tags=tags, owner=owner))
        ).status_code == 201

    assert await _dag_ids(client, admin) == ["hr_weekly", "sales_daily", "sales_hourly"]
    assert await _dag_ids(client, admin, order_by="-dag_id") == [
        "sales_hourly",
        "sales_daily",
        "hr_weekly",
    ]
    assert await _dag_ids(client, admin, tags=["sales", "hr"]) == [
        "hr_weekly",
        "sales_daily",
        "sales_hourly",
    ]
    assert await _dag_ids(client, admin, tags=["sales", "daily"], tags_match_mode="all") == [
        "sales_daily"
    ]
    assert await _dag_ids(client, admin, owners="ann") == ["hr_weekly", "sales_daily"]
    assert await _dag_ids(client, admin, dag_id_pattern="HOURLY|weekly") == [
        "hr_weekly",
        "sales_hourly",
    ]
    assert await _dag_ids(client, admin, dag_id_prefix_pattern="sales_") == [
        "sales_daily",
        "sales_hourly",
    ]
    page = await client.get("/api/v2/dags", params={"limit": 1, "offset": 1}, headers=admin)
    assert page.json()["total_entries"] == 3
    assert [d["dag_id"] for d in page.json()["dags"]] == ["sales_daily"]

    bad_order = await client.get("/api/v2/dags", params={"order_by": "secret"}, headers=admin)
    assert bad_order.status_code == 400
    assert bad_order.json() == {
        "detail": "Ordering with 'secret' is disallowed or the attribute does not exist on the "
        "model"
    }
    bad_limit = await client.get("/api/v2/dags", params={"limit": -1}, headers=admin)
    assert bad_limit.status_code == 422


async def test_last_run_state_filter_and_stats(
    client: httpx.AsyncClient, admin: dict[str, str], db_pool: Pool
) -> None:
    for dag_id in ("ran", "idle"):
        await push(client, admin, bash_spec(dag_id))
    run = await trigger(client, admin, "ran", run_id="first")
    marked = await client.patch(
        f"/api/v2/dags/ran/dagRuns/{run['dag_run_id']}", json={"state": "failed"}, headers=admin
    )
    assert marked.status_code == 200 and marked.json()["state"] == "failed"

    assert await _dag_ids(client, admin, last_dag_run_state="failed") == ["ran"]
    assert await _dag_ids(client, admin, last_dag_run_state="success") == []
    assert await _dag_ids(client, admin, dag_run_state=["failed", "queued"]) == ["ran"]
    assert await _dag_ids(client, admin, order_by="-last_run_state") == ["idle", "ran"]

    stats = await client.get("/api/v2/dagStats", headers=admin)
    assert stats.json()["total_entries"] == 1
    (ran,) = stats.json()["dags"]
    assert {s["state"]: s["count"] for s in ran["stats"]} == {
        "queued": 0,
        "running": 0,
        "success": 0,
        "failed": 1,
    }
    filtered = await client.get("/api/v2/dagStats", params={"dag_ids": "idle"}, headers=admin)
    assert filtered.json() == {"dags": [], "total_entries": 0}


async def test_pause_one_and_many(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    for dag_id in ("alpha", "beta", "gamma"):
        await push(client, admin, bash_spec(dag_id))
    # Lite (the default edition here) registers new DAGs unpaused.
    assert await _dag_ids(client, admin, paused=False) == ["alpha", "beta", "gamma"]

    paused = await client.patch("/api/v2/dags/beta", json={"is_paused": True}, headers=admin)
    assert paused.status_code == 200 and paused.json()["is_paused"] is True
    assert await _dag_ids(client, admin, paused=True) == ["beta"]

    refused = await client.patch(
        "/api/v2/dags/beta",
        params={"update_mask": "description"},
        json={"is_paused": False},
        headers=admin,
    )
    assert refused.status_code == 400
    missing = await client.patch("/api/v2/dags/nope", json={"is_paused": True}, headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Dag with id: nope was not found"}
    extra = await client.patch("/api/v2/dags/beta", json={"is_paused": True, "x": 1}, headers=admin)
    assert extra.status_code == 422

    no_pattern = await client.patch("/api/v2/dags", json={"is_paused": True}, headers=admin)
    assert no_pattern.json() == {"dags": [], "total_entries": 0}
    assert await _dag_ids(client, admin, paused=True) == ["beta"]

    bulk = await client.patch(
        "/api/v2/dags", params={"dag_id_pattern": "a"}, json={"is_paused": True}, headers=admin
    )
    assert bulk.status_code == 200
    assert sorted(d["dag_id"] for d in bulk.json()["dags"]) == ["alpha", "beta", "gamma"]
    assert all(d["is_paused"] for d in bulk.json()["dags"])
    everything = await client.patch(
        "/api/v2/dags", params={"dag_id_pattern": "~"}, json={"is_paused": False}, headers=admin
    )
    assert everything.json()["total_entries"] == 3
    assert await _dag_ids(client, admin, paused=True) == []


async def test_details_tasks_and_source(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    spec = bash_spec(
        "scheduled",
        schedule="0 6 * * *",
        start_date="2024-01-01T00:00:00Z",
        params={"region": "eu"},
        params_schema={"region": {"type": "string", "description": "where"}},
        default_args={"retries": 2, "retry_delay_seconds": 90},
        doc_md="# Scheduled",
        max_active_runs=3,
    )
    await push(client, admin, spec)
    details = (await client.get("/api/v2/dags/scheduled/details", headers=admin)).json()
    assert details["timetable_summary"] == "0 6 * * *"
    assert details["timetable_periodic"] is True
    assert details["next_dagrun_run_after"] is not None
    assert details["max_active_runs"] == 3
    assert details["params"]["region"]["value"] == "eu"
    assert details["params"]["region"]["schema"]["type"] == "string"
    assert details["default_args"] == {"retries": 2, "retry_delay_seconds": 90}
    assert details["doc_md"] == "# Scheduled"
    assert details["latest_dag_version"]["version_number"] == 1
    assert details["is_favorite"] is False

    tasks = (await client.get("/api/v2/dags/scheduled/tasks", headers=admin)).json()
    assert [t["task_id"] for t in tasks["tasks"]] == ["extract", "load", "transform"]
    by_id = {t["task_id"]: t for t in tasks["tasks"]}
    assert by_id["extract"]["downstream_task_ids"] == ["transform"]
    assert by_id["load"]["operator_name"] == "BashOperator"
    assert by_id["load"]["retries"] == 2
    assert by_id["load"]["retry_delay"] == {
        "__type": "TimeDelta",
        "days": 0,
        "seconds": 90,
        "microseconds": 0,
    }
    reverse = await client.get(
        "/api/v2/dags/scheduled/tasks", params={"order_by": "-task_id"}, headers=admin
    )
    assert reverse.json()["tasks"][0]["task_id"] == "transform"
    one = await client.get("/api/v2/dags/scheduled/tasks/transform", headers=admin)
    assert one.json()["trigger_rule"] == "all_success"
    missing = await client.get("/api/v2/dags/scheduled/tasks/nope", headers=admin)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Task with id nope was not found"}

    source = await client.get("/api/v2/dagSources/scheduled", headers=admin)
    assert source.json() == {
        "content": "# the DAG file of scheduled\n",
        "dag_id": "scheduled",
        "version_number": 1,
        "dag_display_name": "scheduled",
    }
    text = await client.get(
        "/api/v2/dagSources/scheduled", headers={**admin, "Accept": "text/plain"}
    )
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == "# the DAG file of scheduled\n"
    odd = await client.get("/api/v2/dagSources/scheduled", headers={**admin, "Accept": "image/png"})
    assert odd.status_code == 406
    assert (await client.get("/api/v2/dagSources/nope", headers=admin)).status_code == 404


async def test_favorites_and_tags(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    await push(client, admin, bash_spec("liked", tags=["b-tag", "a-tag"]))
    await push(client, admin, bash_spec("plain", tags=["a-tag"]))
    assert (await client.post("/api/v2/dags/liked/favorite", headers=admin)).status_code == 204
    assert await _dag_ids(client, admin, is_favorite=True) == ["liked"]
    assert await _dag_ids(client, admin, is_favorite=False) == ["plain"]
    details = await client.get("/api/v2/dags/liked/details", headers=admin)
    assert details.json()["is_favorite"] is True
    assert (await client.post("/api/v2/dags/liked/unfavorite", headers=admin)).status_code == 204
    again = await client.post("/api/v2/dags/liked/unfavorite", headers=admin)
    assert again.status_code == 409

    tags = await client.get("/api/v2/dagTags", headers=admin)
    assert tags.json() == {"tags": ["a-tag", "b-tag"], "total_entries": 2}
    desc = await client.get(
        "/api/v2/dagTags", params={"order_by": "-name", "tag_name_pattern": "tag"}, headers=admin
    )
    assert desc.json()["tags"] == ["b-tag", "a-tag"]
    warnings = await client.get("/api/v2/dagWarnings", params={"dag_id": "liked"}, headers=admin)
    assert warnings.json() == {"dag_warnings": [], "total_entries": 0}


async def test_delete_clears_history_and_deregister_removes_the_dag(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    await push(client, admin, bash_spec("doomed"))
    await trigger(client, admin, "doomed", run_id="r1")
    deleted = await client.delete("/api/v2/dags/doomed", headers=admin)
    assert deleted.status_code == 204
    runs = await client.get("/api/v2/dags/doomed/dagRuns", headers=admin)
    assert runs.json()["total_entries"] == 0
    dag = await client.get("/api/v2/dags/doomed", headers=admin)
    assert dag.status_code == 200 and dag.json()["last_parsed_time"] is not None
    # Still registered: it can run again.
    await trigger(client, admin, "doomed", run_id="r2")

    gone = await client.delete("/api/v2/dags/doomed", params={"deregister": "true"}, headers=admin)
    assert gone.status_code == 204
    assert (await client.get("/api/v2/dags/doomed", headers=admin)).status_code == 404
    versions = await client.get("/api/v2/dags/~/dagVersions", headers=admin)
    assert versions.json()["total_entries"] == 0
    assert (await client.delete("/api/v2/dags/doomed", headers=admin)).status_code == 404
    # A new push starts over at version 1.
    back = await push(client, admin, bash_spec("doomed"))
    assert back.status_code == 201 and back.json()["version_number"] == 1


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("get", "/api/v2/dags", None),
        ("patch", "/api/v2/dags/x", "Viewer"),
        ("delete", "/api/v2/dags/x", "Viewer"),
        ("post", "/api/v2/dags/x/versions", "User"),
    ],
)
async def test_routes_require_their_permission(
    client: httpx.AsyncClient, auth_headers: AuthHeaders, method: str, path: str, role: str | None
) -> None:
    headers = await auth_headers(role) if role else {}
    body = {"is_paused": True} if method == "patch" else ({} if method == "post" else None)
    kwargs: dict[str, Any] = {"headers": headers}
    if body is not None:
        kwargs["json"] = body
    response = await client.request(method.upper(), path, **kwargs)
    if role is None:
        assert response.status_code == 401
        assert response.json() == {"detail": "Not authenticated"}
    else:
        assert response.status_code == 403
        assert response.json() == {"detail": "Forbidden"}
