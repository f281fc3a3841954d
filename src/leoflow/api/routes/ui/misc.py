"""Connection form metadata, the dependency graph, and the features Leoflow does not have.

Leoflow schedules by time or by hand (no assets or partitions), scopes by tenant (no teams),
runs catch-up as ordinary scheduled runs (no backfill objects) and has no deadlines. The web
app still asks about them on every DAG page, so these routes answer what Airflow answers
when there are none: empty collections, or a 404 for a single object.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status

from leoflow.api.common.lookups import require_dag, run_not_found
from leoflow.api.common.parameters import WILDCARD
from leoflow.api.common.resources import get_pool
from leoflow.api.datamodels.common import BaseModel
from leoflow.api.datamodels.ui.grid import BaseGraphResponse, BaseNodeResponse
from leoflow.api.datamodels.ui.misc import (
    BackfillCollectionResponse,
    ConnectionHookFieldBehavior,
    ConnectionHookMetaData,
    DeadlineAlertCollectionResponse,
    DeadlineCollectionResponse,
    NextRunAssetsResponse,
    PartitionedDagRunCollectionResponse,
    StandardHookFields,
    TeamCollectionResponse,
)
from leoflow.api.security import CurrentPrincipal, Permission, Principal, require
from leoflow.store import ui_queries
from leoflow.store.pool import Pool

router = APIRouter()

Read = Annotated[Principal, Depends(require(Permission.DAGS_READ))]
ReadConnections = Annotated[Principal, Depends(require(Permission.CONNECTIONS_READ))]
PoolDep = Annotated[Pool, Depends(get_pool)]


def _hook(
    conn_type: str,
    name: str,
    *,
    hook_class: str | None = None,
    default_conn: str | None = None,
    hidden: tuple[str, ...] = (),
    **fields: ConnectionHookFieldBehavior | None,
) -> ConnectionHookMetaData:
    fields.update({name: ConnectionHookFieldBehavior(hidden=True) for name in hidden})
    return ConnectionHookMetaData(
        connection_type=conn_type,
        hook_class_name=hook_class,
        default_conn_name=default_conn,
        hook_name=name,
        standard_fields=StandardHookFields(**fields) if fields else None,
        extra_fields=None,
    )


def _label(title: str | None = None, placeholder: str | None = None) -> ConnectionHookFieldBehavior:
    return ConnectionHookFieldBehavior(title=title, placeholder=placeholder)


HOOKS: tuple[ConnectionHookMetaData, ...] = (
    _hook("generic", "Generic"),
    _hook("email", "Email"),
    _hook(
        "http",
        "HTTP",
        hook_class="airflow.providers.http.hooks.http.HttpHook",
        default_conn="http_default",
        host=_label(placeholder="https://api.example.com"),
        url_schema=_label(title="Scheme", placeholder="https"),
    ),
    _hook(
        "postgres",
        "Postgres",
        hook_class="airflow.providers.postgres.hooks.postgres.PostgresHook",
        default_conn="postgres_default",
        url_schema=_label(title="Database"),
        port=_label(placeholder="5432"),
    ),
    _hook(
        "mysql",
        "MySQL",
        hook_class="airflow.providers.mysql.hooks.mysql.MySqlHook",
        default_conn="mysql_default",
        url_schema=_label(title="Database"),
        port=_label(placeholder="3306"),
    ),
    _hook(
        "sqlite",
        "Sqlite",
        default_conn="sqlite_default",
        host=_label(title="File path", placeholder="/tmp/db.sqlite"),
        hidden=("login", "password", "port"),
    ),
    _hook(
        "redis",
        "Redis",
        default_conn="redis_default",
        port=_label(placeholder="6379"),
        url_schema=_label(title="Database index", placeholder="0"),
    ),
    _hook(
        "aws",
        "Amazon Web Services",
        default_conn="aws_default",
        login=_label(title="AWS Access Key ID"),
        password=_label(title="AWS Secret Access Key"),
        hidden=("host", "port", "url_schema"),
    ),
    _hook(
        "google_cloud_platform",
        "Google Cloud",
        default_conn="google_cloud_default",
        hidden=("host", "port", "login", "password", "url_schema"),
    ),
    _hook("ssh", "SSH", default_conn="ssh_default", port=_label(placeholder="22")),
    _hook("smtp", "SMTP", default_conn="smtp_default", port=_label(placeholder="587")),
    _hook("fs", "File (path)", default_conn="fs_default", hidden=("login", "password", "port")),
)
"""Connection types offered by the connection form. Tasks read connections as
``AIRFLOW_CONN_<ID>`` URIs, so any type works; these are the common ones, with the form
hints their Airflow providers give."""


@router.get("/connections/hook_meta")
async def hook_meta_data(_principal: ReadConnections) -> list[ConnectionHookMetaData]:
    """Connection types and how the connection form shows their fields."""
    return list(HOOKS)


@router.get("/dependencies")
async def get_dependencies(
    principal: Read,
    pool: PoolDep,
    node_id: str | None = None,
    dependency_type: str = "scheduling",
) -> BaseGraphResponse:
    """Cross-DAG dependencies: none in Leoflow (no assets, triggers or sensors between DAGs),
    so a DAG's graph is the DAG alone."""
    if node_id is None or not node_id.startswith("dag:"):
        return BaseGraphResponse(edges=[], nodes=[])
    dag_id = node_id.removeprefix("dag:")
    if not await ui_queries.dag_exists(pool, principal.tenant_id, dag_id):
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"Unique connected component not found, got {node_id}"
        )
    return BaseGraphResponse(
        edges=[], nodes=[BaseNodeResponse(id=node_id, label=dag_id, type="dag")]
    )


@router.get("/backfills")
async def list_backfills_ui(
    _principal: Read,
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    dag_id: str | None = None,
    active: bool | None = None,
) -> BackfillCollectionResponse:
    """Backfills: none (catch-up runs are ordinary scheduled runs in Leoflow)."""
    return BackfillCollectionResponse(backfills=[], total_entries=0)


@router.get("/teams")
async def list_teams(
    _principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TeamCollectionResponse:
    """Teams: none (Leoflow separates users by tenant)."""
    return TeamCollectionResponse(teams=[], total_entries=0)


@router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/deadlines")
async def get_deadlines(
    dag_id: str, dag_run_id: str, principal: Read, pool: PoolDep
) -> DeadlineCollectionResponse:
    """Deadlines of a run (``~`` for every DAG or run, as the dashboard asks): none."""
    if dag_id != WILDCARD:
        await require_dag(pool, principal, dag_id)
        if dag_run_id != WILDCARD and not await ui_queries.run_exists(
            pool, principal.tenant_id, dag_id, dag_run_id
        ):
            raise run_not_found(dag_id, dag_run_id)
    return DeadlineCollectionResponse(deadlines=[], total_entries=0)


@router.get("/dags/{dag_id}/deadlineAlerts")
async def get_dag_deadline_alerts(
    dag_id: str, principal: Read, pool: PoolDep
) -> DeadlineAlertCollectionResponse:
    """Deadline alerts of a DAG: none."""
    await require_dag(pool, principal, dag_id)
    return DeadlineAlertCollectionResponse(deadline_alerts=[], total_entries=0)


@router.get("/partitioned_dag_runs")
async def get_partitioned_dag_runs(
    _principal: Read, dag_id: str | None = None, has_created_dag_run_id: bool | None = None
) -> PartitionedDagRunCollectionResponse:
    """Partitioned runs: none."""
    return PartitionedDagRunCollectionResponse(partitioned_dag_runs=[], total=0)


@router.get("/pending_partitioned_dag_run/{dag_id}")
async def get_pending_partitioned_dag_run(
    dag_id: str, _principal: Read, partition_key: str | None = None
) -> None:
    """A pending partitioned run: never (Leoflow has no partitions)."""
    raise HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"No PartitionedDagRun for dag={dag_id} partition={partition_key}",
    )


@router.get("/next_run_assets/{dag_id}")
async def next_run_assets(dag_id: str, principal: Read, pool: PoolDep) -> NextRunAssetsResponse:
    """Assets the DAG waits for: none (Leoflow DAGs run on a schedule or by hand)."""
    await require_dag(pool, principal, dag_id)
    return NextRunAssetsResponse(asset_expression=None, events=[])


# --- public routes of features Leoflow lacks, which the web app's pages still ask for ------

absent_public_router = APIRouter(prefix="/api/v2", tags=["Task Instance"])
"""Registered after the public API: a real implementation registered earlier takes over."""


class HITLDetailCollection(BaseModel):
    """Human-in-the-loop requests (Leoflow has no human-in-the-loop operator)."""

    hitl_details: list[dict[str, Any]]
    total_entries: int


@absent_public_router.get("/dags/{dag_id}/dagRuns/{dag_run_id}/hitlDetails")
async def get_hitl_details(
    dag_id: str, dag_run_id: str, principal: Read, pool: PoolDep
) -> HITLDetailCollection:
    """Pending human actions (``~`` for every DAG or run): none."""
    if dag_id != WILDCARD:
        await require_dag(pool, principal, dag_id)
    return HITLDetailCollection(hitl_details=[], total_entries=0)
