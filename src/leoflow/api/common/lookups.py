"""Finding what a path names, with Airflow's exact 404 answers.

Every lookup is scoped to the caller's tenant: a DAG of another tenant is answered exactly like
a DAG that does not exist.
"""

from __future__ import annotations

from fastapi import HTTPException, status

from leoflow.api.security import Principal
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.spec import SpecError
from leoflow.store import dag_queries, run_queries, ti_queries
from leoflow.store.dag_queries import DagRow
from leoflow.store.pool import Pool
from leoflow.store.run_queries import RunRow
from leoflow.store.ti_queries import TiRow


def dag_not_found(dag_id: str) -> HTTPException:
    """Airflow's answer for an unknown DAG in run, task and version routes."""
    return HTTPException(status.HTTP_404_NOT_FOUND, f"The Dag with ID: `{dag_id}` was not found")


def run_not_found(dag_id: str, run_id: str) -> HTTPException:
    """Airflow's answer for an unknown run."""
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"The DagRun with dag_id: `{dag_id}` and run_id: `{run_id}` was not found",
    )


def ti_not_found(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> HTTPException:
    """Airflow's answer for an unknown task instance."""
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        f"The Task Instance with dag_id: `{dag_id}`, run_id: `{run_id}`, task_id: `{task_id}` "
        f"and map_index: `{map_index}` was not found",
    )


async def find_dag(pool: Pool, principal: Principal, dag_id: str) -> DagRow | None:
    """The DAG of the caller's tenant called ``dag_id``, if any."""
    return await dag_queries.get_dag_row(
        pool, principal.tenant_id, dag_id, user_id=principal.user_id
    )


async def require_dag(
    pool: Pool, principal: Principal, dag_id: str, error: HTTPException | None = None
) -> DagRow:
    """The DAG called ``dag_id``, or a 404 (``error``, else Airflow's usual text)."""
    row = await find_dag(pool, principal, dag_id)
    if row is None:
        raise error or dag_not_found(dag_id)
    return row


async def latest_compiled(
    pool: Pool, catalog: DagCatalog, principal: Principal, dag_id: str
) -> tuple[DagRow, CompiledDag]:
    """The DAG and its latest version, compiled; 404 when either is missing."""
    row = await require_dag(pool, principal, dag_id)
    if row.latest_version_id is None:
        raise dag_not_found(dag_id)
    return row, await compiled_version(catalog, row.latest_version_id, dag_id)


async def compiled_version(catalog: DagCatalog, version_id: object, dag_id: str) -> CompiledDag:
    """A version from the catalog; a stored spec this Leoflow cannot read is a 404 too."""
    try:
        return await catalog.get(version_id)  # type: ignore[arg-type]
    except (LookupError, SpecError):
        raise dag_not_found(dag_id) from None


async def require_run(pool: Pool, principal: Principal, dag_id: str, run_id: str) -> RunRow:
    """The run ``run_id`` of ``dag_id``, or Airflow's 404."""
    run = await run_queries.get_run(pool, principal.tenant_id, dag_id, run_id)
    if run is None:
        raise run_not_found(dag_id, run_id)
    return run


async def require_ti(
    pool: Pool, principal: Principal, dag_id: str, run_id: str, task_id: str, *, map_index: int = -1
) -> TiRow:
    """One task instance, or Airflow's 404."""
    ti = await ti_queries.get_task_instance(
        pool, principal.tenant_id, dag_id, run_id, task_id, map_index=map_index
    )
    if ti is None:
        raise ti_not_found(dag_id, run_id, task_id, map_index)
    return ti
