"""Airflow features Leoflow does not have answer a true, schema-valid "none", not a 404."""

from __future__ import annotations

import httpx
import pytest

from harness.airflow_api import admin, bash_spec, client, push

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
