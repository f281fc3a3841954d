"""The telemetry of one task-instance try, recorded where its state moves.

Every path that moves a try — an agent's report, an inline HTTP call, an executor that saw its
pod die, a scheduler reaper — calls :func:`try_started` / :func:`try_finished` with the row the
guarded write returned. Times come from that row (the database's clock: ``queued_at``,
``start_date``, ``end_date``), so cold start and duration are right whichever replica
dispatched the try and whichever received its report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from opentelemetry import trace

from leoflow.telemetry.logging import get_logger
from leoflow.telemetry.metrics import TASK_COLD_START, TASK_DURATION
from leoflow.telemetry.tracing import (
    ATTR_STATE,
    ATTR_TASK_TYPE,
    record_try_span,
    try_attributes,
    try_span_ids,
)

log = get_logger("leoflow.tasks")


@dataclass(frozen=True)
class TryRef:
    """Who a try is: enough to label its metrics, name its trace and correlate its logs."""

    ti_id: UUID
    try_number: int
    dag_id: str
    run_id: str
    task_id: str
    tenant: str | None = None
    task_type: str = "unknown"

    def log_fields(self) -> dict[str, Any]:
        """Correlation fields of a log line about this try (``trace_id``/``span_id`` of its
        root unless the line is emitted inside a span of the try's trace already)."""
        fields: dict[str, Any] = {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
        }
        if self.tenant:
            fields["tenant"] = self.tenant
        trace_id, span_id = try_span_ids(self.ti_id, self.try_number)
        current = trace.get_current_span().get_span_context()
        if not current.is_valid or current.trace_id != trace_id:
            fields["trace_id"] = format(trace_id, "032x")
            fields["span_id"] = format(span_id, "016x")
        return fields

    def span_attributes(self) -> dict[str, Any]:
        """``leoflow.*`` attributes of the try's spans."""
        attributes = try_attributes(
            dag_id=self.dag_id,
            task_id=self.task_id,
            run_id=self.run_id,
            try_number=self.try_number,
            tenant=self.tenant,
        )
        attributes[ATTR_TASK_TYPE] = self.task_type
        return attributes


@contextmanager
def bound_try(ref: TryRef) -> Iterator[None]:
    """Bind the try's correlation fields to every log line emitted in this block."""
    fields = ref.log_fields()
    fields.pop("trace_id", None)
    fields.pop("span_id", None)
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def try_started(ref: TryRef, queued_at: datetime | None, start_date: datetime | None) -> None:
    """The agent (or executor) reported ``running``: observe the cold start."""
    if queued_at is not None and start_date is not None:
        TASK_COLD_START.labels(ref.dag_id, ref.task_type).observe(
            max((start_date - queued_at).total_seconds(), 0.0)
        )
    log.info("task running", **ref.log_fields())


def try_finished(
    ref: TryRef,
    state: str,
    *,
    queued_at: datetime | None,
    start_date: datetime | None,
    end_date: datetime | None,
    duration: float | None,
) -> None:
    """The try reached a final state (or up_for_retry): duration, root span, one log line.

    The failure's message stays in the try's own log: it may quote user data, which the
    control plane's log and the trace backend must not receive.
    """
    if duration is not None and start_date is not None:
        TASK_DURATION.labels(ref.dag_id, ref.task_id, ref.task_type).observe(max(duration, 0.0))
    start = queued_at or start_date or end_date
    if start is not None and end_date is not None:
        attributes = ref.span_attributes()
        attributes[ATTR_STATE] = state
        failed = state in ("failed", "up_for_retry")
        record_try_span(
            ref.ti_id,
            ref.try_number,
            start=start,
            end=end_date,
            attributes=attributes,
            error=state if failed else None,
        )
    fields = ref.log_fields()
    if duration is not None:
        fields["duration_seconds"] = round(duration, 3)
    if state in ("failed", "up_for_retry"):
        log.warning("task finished", state=state, **fields)
    else:
        log.info("task finished", state=state, **fields)
