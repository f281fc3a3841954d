"""``GET /dags/{dag_id}/dagRuns/{dag_run_id}/wait``: follow a run until it finishes.

As Airflow's (experimental) endpoint: newline-delimited JSON, one ``{"state": …}`` line now and
one every ``interval`` seconds, the last one written once the run is ``success`` or ``failed``.
That last line carries ``results``: the return value (XCom ``return_value``) of each task named
by a ``result`` parameter that has one. Leoflow DAGs mark no task as the DAG's result, so
without ``result`` no results are returned. ``interval`` is kept within 0.1 s … 1 day.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import StreamingResponse

from leoflow.api.common.lookups import require_run
from leoflow.api.common.resources import get_pool, get_xcom_service
from leoflow.api.security import Permission, Principal, require
from leoflow.scheduler.run_watch import FINISHED, run_results, watch_run_state
from leoflow.store.pool import Pool
from leoflow.xcom import RunScope, XComService

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns", tags=["DagRun", "experimental"])

NDJSON = "application/x-ndjson"

_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Successful Response",
        "content": {
            NDJSON: {
                "schema": {
                    "type": "string",
                    "example": textwrap.dedent(
                        """\
                        {"state": "running"}
                        {"state": "success", "results": {"op": 42}}
                        """
                    ),
                }
            }
        },
    },
    404: {"description": "No such DAG run"},
}


async def _lines(
    pool: Pool, xcom: XComService, scope: RunScope, interval: float, result_task_ids: list[str]
) -> AsyncIterator[str]:
    async for state in watch_run_state(pool, scope.run_uuid, interval):
        line: dict[str, Any] = {"state": state.value}
        if state in FINISHED and result_task_ids:
            results = await run_results(xcom, scope, result_task_ids)
            if results:
                line["results"] = results
        yield json.dumps(line) + "\n"


@router.get(
    "/{dag_run_id}/wait",
    summary="Experimental: Wait for a dag run to complete, and return task results if requested.",
    response_class=StreamingResponse,
    responses=_STREAM_DOC,
)
async def wait_dag_run_until_finished(
    *,
    dag_id: str,
    dag_run_id: str,
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    pool: Annotated[Pool, Depends(get_pool)],
    xcom: Annotated[XComService, Depends(get_xcom_service)],
    interval: Annotated[
        float, Query(gt=0.0, description="Seconds to wait between dag run state checks")
    ],
    result_task_ids: Annotated[
        list[str] | None,
        Query(
            alias="result",
            description="Collect result XCom from task. Can be set multiple times.",
        ),
    ] = None,
) -> StreamingResponse:
    """Stream the run's state until it finishes, then the requested tasks' results."""
    if result_task_ids and not principal.can(Permission.XCOM_READ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "User is not authorized to read XCom data for this Dag"
        )
    run = await require_run(pool, principal, dag_id, dag_run_id)
    return StreamingResponse(
        _lines(
            pool,
            xcom,
            RunScope(principal.tenant, run.dag_id, run.id),
            interval,
            result_task_ids or [],
        ),
        media_type=NDJSON,
    )
