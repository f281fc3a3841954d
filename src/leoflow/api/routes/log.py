"""``…/taskInstances/{task_id}/logs/{try_number}``: one try's log, as JSON or NDJSON.

A read answers the complete lines written so far and, while the try can still write more, a
continuation token (also sent as the ``Airflow-Continuation-Token`` header for NDJSON) that
resumes after them. ``full_content`` reads from the beginning whatever the token says.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, status
from fastapi.responses import StreamingResponse

from leoflow.api.common.lookups import require_ti
from leoflow.api.common.resources import get_log_reader, get_pool
from leoflow.api.datamodels.log import StructuredLogMessage, TaskInstancesLogResponse
from leoflow.api.log_reader import LogKey, LogReader
from leoflow.api.security import Permission, Principal, require
from leoflow.store.pool import Pool

router = APIRouter(
    prefix="/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances/{task_id}",
    tags=["Task Instance"],
)

NDJSON = "application/x-ndjson"
CONTINUATION_HEADER = "Airflow-Continuation-Token"
_STILL_WRITING = frozenset({"queued", "running", "deferred"})

Read = Annotated[Principal, Depends(require(Permission.LOGS_READ))]


def encode_token(offset: int) -> str:
    """A continuation token naming a position in the log (opaque to clients)."""
    raw = json.dumps({"offset": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> int:
    """The position a token names; 400 (Airflow's text) for anything we did not issue."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = data["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(offset)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Bad Signature. Please use only the tokens provided by the API.",
        ) from None
    return offset


def _message(line: dict[str, Any]) -> dict[str, Any]:
    """A stored line whose ``timestamp`` is a valid date-time (or absent)."""
    stamp = line.get("timestamp")
    if isinstance(stamp, str):
        try:
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            line = {k: v for k, v in line.items() if k != "timestamp"}
    elif stamp is not None:
        line = {k: v for k, v in line.items() if k != "timestamp"}
    return line


async def _ndjson(lines: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for line in lines:
        yield (json.dumps(line, default=str) + "\n").encode()


@router.get(
    "/logs/{try_number}",
    response_model=TaskInstancesLogResponse,
    responses={200: {"content": {NDJSON: {"schema": {"type": "string"}}}}},
)
async def get_log(
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    try_number: int,
    *,
    principal: Read,
    pool: Annotated[Pool, Depends(get_pool)],
    reader: Annotated[LogReader, Depends(get_log_reader)],
    full_content: bool = False,
    map_index: int = -1,
    token: str | None = None,
    accept: Annotated[str, Header()] = "*/*",
) -> TaskInstancesLogResponse | StreamingResponse:
    """Get the log of one try of a task instance (NDJSON with ``Accept: application/x-ndjson``)."""
    offset = 0 if (full_content or not token) else decode_token(token)
    try:
        ti = await require_ti(pool, principal, dag_id, dag_run_id, task_id, map_index=map_index)
    except HTTPException:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "TaskInstance not found") from None
    if not 1 <= try_number <= ti.try_number:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "TaskInstance not found")
    key = LogKey(principal.tenant, dag_id, dag_run_id, task_id, map_index, try_number)
    chunk = await reader.read(key, offset)
    finished = try_number < ti.try_number or ti.state not in _STILL_WRITING
    lines = [_message(line) for line in chunk.lines]
    if not chunk.exists and finished and offset == 0:
        lines = [{"event": f"No log was written for try {try_number} of this task instance."}]
    next_token = None if finished else encode_token(chunk.next_offset)
    if NDJSON in accept.lower():
        headers = {CONTINUATION_HEADER: next_token} if next_token else None
        return StreamingResponse(_ndjson(lines), media_type=NDJSON, headers=headers)
    return TaskInstancesLogResponse(
        content=[StructuredLogMessage.model_validate(line) for line in lines],
        continuation_token=next_token,
    )


@router.get("/externalLogUrl/{try_number}")
async def get_external_log_url(
    dag_id: str, dag_run_id: str, task_id: str, try_number: int, principal: Read
) -> dict[str, str]:
    """Logs are served by Leoflow itself; there is no external log viewer to link to."""
    raise HTTPException(
        status.HTTP_400_BAD_REQUEST, "Task log handler does not support external logs."
    )
