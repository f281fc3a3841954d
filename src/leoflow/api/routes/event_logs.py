"""``/api/v2/eventLogs``: the audit log in Airflow 3.3.2's event-log shape, per tenant."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel

from leoflow.api.routes._listing import page_limit, parse_order_by
from leoflow.api.security import Permission, Principal, require
from leoflow.secrets.masking import redact
from leoflow.store import audit as store
from leoflow.store.pool import Pool

router = APIRouter(prefix="/api/v2/eventLogs", tags=["Event Log"])

_SORTABLE = tuple(store.SORT_COLUMNS)
_PATTERN = "Case-insensitive substring match (SQL `ILIKE`)."
_PREFIX = "Case-sensitive, index-friendly prefix match."


class EventLogResponse(BaseModel):
    """Event Log Response."""

    event_log_id: int
    when: datetime
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    event: str
    logical_date: datetime | None
    owner: str | None
    extra: str | None
    dag_display_name: str | None = None
    task_display_name: str | None = None


class EventLogCollectionResponse(BaseModel):
    """Event Log Collection Response."""

    event_logs: list[EventLogResponse]
    total_entries: int


def _response(entry: store.AuditEntry) -> EventLogResponse:
    return EventLogResponse(
        event_log_id=entry.id,
        when=entry.created_at,
        dag_id=entry.dag_id,
        task_id=entry.task_id,
        run_id=entry.run_id,
        map_index=entry.map_index,
        try_number=entry.try_number,
        event=entry.event,
        logical_date=entry.logical_date,
        owner=entry.actor,
        extra=json.dumps(redact(entry.extra)) if entry.extra is not None else None,
        dag_display_name=entry.dag_id,
        task_display_name=entry.task_id,
    )


def _pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


@router.get("", response_model=EventLogCollectionResponse)
async def get_event_logs(
    request: Request,
    *,
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
    limit: Annotated[int, Query(ge=0)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
    order_by: Annotated[
        list[str],
        Query(
            description="Attributes to order by, multi criteria sort is supported. Prefix with "
            "`-` for descending order. Supported attributes: `id, dttm, dag_id, task_id, "
            "run_id, event, logical_date, owner, extra, when, event_log_id`"
        ),
    ] = ["id"],  # noqa: B006 - FastAPI copies defaults per request
    dag_id: str | None = None,
    task_id: str | None = None,
    run_id: str | None = None,
    map_index: int | None = None,
    try_number: int | None = None,
    owner: str | None = None,
    event: str | None = None,
    excluded_events: Annotated[list[str] | None, Query()] = None,
    included_events: Annotated[list[str] | None, Query()] = None,
    before: datetime | None = None,
    after: datetime | None = None,
    dag_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    task_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    run_id_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    owner_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    event_pattern: Annotated[str | None, Query(description=_PATTERN)] = None,
    dag_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    task_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    run_id_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    owner_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
    event_prefix_pattern: Annotated[str | None, Query(description=_PREFIX)] = None,
) -> EventLogCollectionResponse:
    """Get all Event Logs."""
    flt = store.AuditFilter(
        equals={
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "map_index": map_index,
            "try_number": try_number,
            "owner": owner,
            "event": event,
        },
        patterns={
            "dag_id": dag_id_pattern or "",
            "task_id": task_id_pattern or "",
            "run_id": run_id_pattern or "",
            "owner": owner_pattern or "",
            "event": event_pattern or "",
        },
        prefixes={
            "dag_id": dag_id_prefix_pattern or "",
            "task_id": task_id_prefix_pattern or "",
            "run_id": run_id_prefix_pattern or "",
            "owner": owner_prefix_pattern or "",
            "event": event_prefix_pattern or "",
        },
        included_events=included_events,
        excluded_events=excluded_events,
        before=before,
        after=after,
    )
    entries, total = await store.list_entries(
        _pool(request),
        principal.tenant_id,
        flt,
        order_by=parse_order_by(order_by, _SORTABLE),
        limit=page_limit(limit),
        offset=offset,
    )
    return EventLogCollectionResponse(
        event_logs=[_response(entry) for entry in entries], total_entries=total
    )


@router.get("/{event_log_id}", response_model=EventLogResponse)
async def get_event_log(
    request: Request,
    event_log_id: int,
    principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
) -> EventLogResponse:
    """Get an Event Log."""
    entry = await store.get_entry(_pool(request), principal.tenant_id, event_log_id)
    if entry is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"The Event Log with id: `{event_log_id}` not found"
        )
    return _response(entry)
