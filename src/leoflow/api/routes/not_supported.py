"""Airflow operations of features Leoflow deliberately does not have.

They are answered, never left to a bare 404 or 405, so a client learns what is missing, why,
and what to use instead. One rule for all of them (docs/api.md lists each operation):

* a write or an action answers **400** with ``{"detail": "Leoflow does not support <feature>:
  <why>. <what to use instead>"}`` — nothing is stored;
* a read of one item answers **404** with the same detail: no such item can exist;
* a read of a collection answers an empty collection (the Airflow web UI's task instance page
  lists the task state store: there is none, so its tab is empty).

Authentication and the permission Airflow requires for the operation are checked first.
:data:`NOT_SUPPORTED` is the list the conformance test holds against Airflow's spec.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel

from leoflow.api.common.lookups import require_ti
from leoflow.api.common.parameters import Page, pagination
from leoflow.api.common.resources import get_pool
from leoflow.api.security import Permission, Principal, require
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2")


@dataclass(frozen=True)
class Feature:
    """An Airflow feature Leoflow does not have: why, and what to do instead."""

    name: str
    why: str
    instead: str

    @property
    def detail(self) -> str:
        """The ``detail`` of every answer about this feature."""
        return f"Leoflow does not support {self.name}: {self.why}. {self.instead}."


POOLS = Feature(
    "pools",
    "concurrency is bounded per DAG by max_active_tasks and max_active_runs and by the "
    "executors, and every task instance runs in default_pool",
    "Set max_active_tasks or max_active_runs on the DAG instead",
)
BACKFILLS = Feature(
    "backfills",
    "the scheduler itself creates the missed scheduled runs of a DAG with catchup=true",
    "Set catchup and start_date on the DAG, or trigger runs for the logical dates you need "
    "(POST /api/v2/dags/{dag_id}/dagRuns with logical_date)",
)
ASSETS = Feature(
    "assets",
    "DAGs run on their schedule or when triggered, so there are no assets, asset events or "
    "asset-triggered runs",
    "Trigger the DAG that consumes the data instead (POST /api/v2/dags/{dag_id}/dagRuns)",
)
ASSET_STATE = Feature(
    "assets or their state store",
    "DAGs run on their schedule or when triggered, so there are no assets to keep state for",
    "Keep such state in a Variable (/api/v2/variables)",
)
TASK_STATE = Feature(
    "the task state store",
    "a task keeps nothing between runs and tries except the XComs it pushed",
    "Keep values a task needs later as XCom entries or in Variables",
)
HITL = Feature(
    "human-in-the-loop operators",
    "no task waits for a person's answer",
    "Mark the task instance instead (PATCH …/taskInstances/{task_id})",
)
REPARSE = Feature(
    "re-parsing DAG files",
    "a DAG is compiled once into dag.json and registered by pushing it; the control plane "
    "never imports DAG files",
    "Push the recompiled dag.json (leoflow push, or POST /api/v2/dags/{dag_id}/versions); in "
    "Lite, save the file in the workspace",
)
PARTITIONS = Feature(
    "partitioned runs",
    "runs have no partition_key or partition_date",
    "Clear runs by name with POST /api/v2/dags/{dag_id}/clearDagRuns",
)


@dataclass(frozen=True)
class Operation:
    """One Airflow operation answered with :class:`Feature`'s detail."""

    method: str
    path: str
    """The path below ``/api/v2``, as Airflow's spec writes it."""
    operation_id: str
    feature: Feature
    permission: Permission

    @property
    def status(self) -> int:
        """404 for a read of one item, 400 for a write or an action."""
        return status.HTTP_404_NOT_FOUND if self.method == "GET" else status.HTTP_400_BAD_REQUEST


_TI = "/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}"
_HITL = _TI + "/{map_index}/hitlDetails"
_ASSET_STATE = "/assets/{asset_id}/state-store"

OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/pools", "post_pool", POOLS, Permission.POOLS_EDIT),
    Operation("PATCH", "/pools", "bulk_pools", POOLS, Permission.POOLS_EDIT),
    Operation("PATCH", "/pools/{pool_name}", "patch_pool", POOLS, Permission.POOLS_EDIT),
    Operation("DELETE", "/pools/{pool_name}", "delete_pool", POOLS, Permission.POOLS_EDIT),
    Operation("POST", "/backfills", "create_backfill", BACKFILLS, Permission.RUNS_TRIGGER),
    Operation(
        "POST", "/backfills/dry_run", "create_backfill_dry_run", BACKFILLS, Permission.RUNS_TRIGGER
    ),
    Operation(
        "PUT", "/backfills/{backfill_id}/pause", "pause_backfill", BACKFILLS, Permission.RUNS_EDIT
    ),
    Operation(
        "PUT",
        "/backfills/{backfill_id}/unpause",
        "unpause_backfill",
        BACKFILLS,
        Permission.RUNS_EDIT,
    ),
    Operation(
        "PUT", "/backfills/{backfill_id}/cancel", "cancel_backfill", BACKFILLS, Permission.RUNS_EDIT
    ),
    Operation("GET", "/assets/{asset_id}", "get_asset", ASSETS, Permission.ASSETS_READ),
    Operation(
        "GET", "/assets/aliases/{asset_alias_id}", "get_asset_alias", ASSETS, Permission.ASSETS_READ
    ),
    Operation("POST", "/assets/events", "create_asset_event", ASSETS, Permission.ASSETS_EDIT),
    Operation(
        "POST",
        "/assets/{asset_id}/materialize",
        "materialize_asset",
        ASSETS,
        Permission.RUNS_TRIGGER,
    ),
    Operation(
        "GET",
        "/assets/{asset_id}/queuedEvents",
        "get_asset_queued_events",
        ASSETS,
        Permission.ASSETS_READ,
    ),
    Operation(
        "DELETE",
        "/assets/{asset_id}/queuedEvents",
        "delete_asset_queued_events",
        ASSETS,
        Permission.ASSETS_EDIT,
    ),
    Operation(
        "DELETE",
        "/dags/{dag_id}/assets/queuedEvents",
        "delete_dag_asset_queued_events",
        ASSETS,
        Permission.ASSETS_EDIT,
    ),
    Operation(
        "GET",
        "/dags/{dag_id}/assets/{asset_id}/queuedEvents",
        "get_dag_asset_queued_event",
        ASSETS,
        Permission.ASSETS_READ,
    ),
    Operation(
        "DELETE",
        "/dags/{dag_id}/assets/{asset_id}/queuedEvents",
        "delete_dag_asset_queued_event",
        ASSETS,
        Permission.ASSETS_EDIT,
    ),
    Operation("GET", _ASSET_STATE, "list_asset_state_store", ASSET_STATE, Permission.ASSETS_READ),
    Operation(
        "DELETE", _ASSET_STATE, "clear_asset_state_store", ASSET_STATE, Permission.ASSETS_EDIT
    ),
    Operation(
        "GET", _ASSET_STATE + "/{key}", "get_asset_state_store", ASSET_STATE, Permission.ASSETS_READ
    ),
    Operation(
        "PUT", _ASSET_STATE + "/{key}", "set_asset_state_store", ASSET_STATE, Permission.ASSETS_EDIT
    ),
    Operation(
        "DELETE",
        _ASSET_STATE + "/{key}",
        "delete_asset_state_store",
        ASSET_STATE,
        Permission.ASSETS_EDIT,
    ),
    Operation(
        "DELETE", _TI + "/state-store", "clear_task_state_store", TASK_STATE, Permission.RUNS_EDIT
    ),
    Operation(
        "GET", _TI + "/state-store/{key}", "get_task_state_store", TASK_STATE, Permission.DAGS_READ
    ),
    Operation(
        "PUT", _TI + "/state-store/{key}", "set_task_state_store", TASK_STATE, Permission.RUNS_EDIT
    ),
    Operation(
        "PATCH",
        _TI + "/state-store/{key}",
        "patch_task_state_store",
        TASK_STATE,
        Permission.RUNS_EDIT,
    ),
    Operation(
        "DELETE",
        _TI + "/state-store/{key}",
        "delete_task_state_store",
        TASK_STATE,
        Permission.RUNS_EDIT,
    ),
    Operation("GET", _HITL, "get_hitl_detail", HITL, Permission.DAGS_READ),
    Operation("PATCH", _HITL, "update_hitl_detail", HITL, Permission.RUNS_EDIT),
    Operation(
        "GET",
        _HITL + "/tries/{try_number}",
        "get_hitl_detail_try_detail",
        HITL,
        Permission.DAGS_READ,
    ),
    Operation(
        "PUT", "/parseDagFile/{file_token}", "reparse_dag_file", REPARSE, Permission.DAGS_EDIT
    ),
    Operation(
        "POST",
        "/dags/{dag_id}/clearPartitions",
        "clear_dag_run_partitions",
        PARTITIONS,
        Permission.RUNS_EDIT,
    ),
)

_INTEGER_PARAMS = frozenset(
    {"asset_id", "asset_alias_id", "backfill_id", "map_index", "try_number"}
)


def _endpoint(operation: Operation) -> Callable[..., Coroutine[Any, Any, None]]:
    """A handler refusing ``operation``, with its path parameters declared (so the OpenAPI
    document and request validation describe them as Airflow does)."""

    async def refuse(**_: Any) -> None:
        raise HTTPException(operation.status, operation.feature.detail)

    names = [part[1:-1] for part in operation.path.split("/") if part.startswith("{")]
    parameters = [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            annotation=int if name in _INTEGER_PARAMS else str,
        )
        for name in names
    ]
    parameters.append(
        inspect.Parameter(
            "principal",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[Principal, Depends(require(operation.permission))],
        )
    )
    refuse.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    refuse.__name__ = operation.operation_id
    refuse.__doc__ = f"Not supported: {operation.feature.detail}"
    return refuse


class TaskStateStoreCollectionResponse(BaseModel):
    """All task state store entries for a task instance (Leoflow keeps none)."""

    task_state_store: list[dict[str, Any]]
    total_entries: int


@router.get(_TI + "/state-store", tags=["Task State Store"])
async def list_task_state_store(
    *,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    page: Annotated[Page, Depends(pagination)],
    map_index: int = -1,
) -> TaskStateStoreCollectionResponse:
    """A task instance's state store entries: none, Leoflow has no task state store."""
    await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    return TaskStateStoreCollectionResponse(task_state_store=[], total_entries=0)


for _operation in OPERATIONS:
    router.add_api_route(
        _operation.path,
        _endpoint(_operation),
        methods=[_operation.method],
        operation_id=_operation.operation_id,
        response_model=None,
        responses={_operation.status: {"description": _operation.feature.detail}},
        tags=["Not supported by Leoflow"],
    )

NOT_SUPPORTED: frozenset[tuple[str, str]] = frozenset(
    {(op.method, "/api/v2" + op.path) for op in OPERATIONS}
    | {("GET", "/api/v2" + _TI + "/state-store")}
)
"""``(method, path)`` of every Airflow operation answered as not supported (or empty)."""


def not_supported_detail(method: str, path: str) -> str | None:
    """The detail answered for an operation of :data:`NOT_SUPPORTED` that refuses."""
    for op in OPERATIONS:
        if op.method == method and "/api/v2" + op.path == path:
            return op.feature.detail
    return None
