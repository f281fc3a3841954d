"""``/api/v2/dagWarnings``: always empty, and truly so.

Airflow's warnings are about pools that do not exist, asset conflicts and values that change
from one parse to the next. Leoflow has no pools or assets, and a DAG is compiled once into an
immutable version, so none of them can occur.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from leoflow.api.common.parameters import OrderTerms, Page, pagination, sort_param
from leoflow.api.datamodels.dags import DAGWarningCollectionResponse
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/dagWarnings", tags=["DagWarning"])


@router.get("")
async def list_dag_warnings(
    principal: Annotated[Principal, Depends(require(Permission.DAGS_READ))],
    page: Annotated[Page, Depends(pagination)],
    order_by: Annotated[
        OrderTerms,
        Depends(sort_param(("dag_id", "warning_type", "message", "timestamp"), "dag_id")),
    ],
    dag_id: str | None = None,
    warning_type: str | None = None,
) -> DAGWarningCollectionResponse:
    """DAG warnings of the caller's DAGs: there are none."""
    return DAGWarningCollectionResponse(dag_warnings=[], total_entries=0)
