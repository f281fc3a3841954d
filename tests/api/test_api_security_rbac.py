"""RBAC as enforced on real routes: Airflow's ladder Viewer < User < Op < Admin."""

from __future__ import annotations

import httpx
import pytest

from harness.api import AuthHeaders
from leoflow.api.security import Permission

VARIABLE = {"key": "k", "value": "v"}
CONNECTION = {"connection_id": "c", "conn_type": "http"}


@pytest.mark.parametrize(
    ("role", "read_variables", "read_connections", "read_audit"),
    [
        ("Viewer", 403, 403, 200),
        ("User", 403, 403, 200),
        ("Op", 200, 200, 200),
        ("Admin", 200, 200, 200),
    ],
)
async def test_reads_by_role(
    api_client: httpx.AsyncClient,
    auth_headers: AuthHeaders,
    *,
    role: str,
    read_variables: int,
    read_connections: int,
    read_audit: int,
) -> None:
    headers = await auth_headers(role)
    assert (await api_client.get("/api/v2/variables", headers=headers)).status_code == (
        read_variables
    )
    assert (await api_client.get("/api/v2/connections", headers=headers)).status_code == (
        read_connections
    )
    assert (await api_client.get("/api/v2/eventLogs", headers=headers)).status_code == read_audit


@pytest.mark.parametrize("role", ["Viewer", "User"])
async def test_viewer_and_user_cannot_change_variables_or_connections(
    api_client: httpx.AsyncClient, auth_headers: AuthHeaders, role: str
) -> None:
    headers = await auth_headers(role)
    attempts = [
        api_client.post("/api/v2/variables", json=VARIABLE, headers=headers),
        api_client.patch("/api/v2/variables/k", json=VARIABLE, headers=headers),
        api_client.delete("/api/v2/variables/k", headers=headers),
        api_client.patch("/api/v2/variables", json={"actions": []}, headers=headers),
        api_client.post("/api/v2/connections", json=CONNECTION, headers=headers),
        api_client.get("/api/v2/connections/c", headers=headers),
        api_client.delete("/api/v2/connections/c", headers=headers),
        api_client.post("/api/v2/connections/test", json=CONNECTION, headers=headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert (response.status_code, response.json()) == (403, {"detail": "Forbidden"})


async def test_op_can_change_variables(
    api_client: httpx.AsyncClient, auth_headers: AuthHeaders
) -> None:
    headers = await auth_headers("Op")
    assert (
        await api_client.post("/api/v2/variables", json=VARIABLE, headers=headers)
    ).status_code == 201


def test_permission_names_are_stable() -> None:
    """Other routes and the database refer to these strings; renaming one is a migration."""
    assert Permission.DAGS_READ == "dags:read"
    assert Permission.RUNS_TRIGGER == "runs:trigger"
    assert Permission.DAG_VERSIONS_PUSH == "dag_versions:push"
    assert Permission.CONNECTIONS_EDIT == "connections:edit"
