"""OpenTelemetry tracing: one trace per task-instance try, exported only when asked to.

A tracer provider is always installed (spans then have valid ids for log correlation and W3C
context propagation); spans leave the process only when an OTLP endpoint is configured
(``LEOFLOW_OTLP_ENDPOINT``, ``http://collector:4317`` for plaintext gRPC, ``https://…`` for
TLS).

**The trace of a try.** Its trace id and root span id are *derived* from the task instance id
and the try number (:func:`try_span_ids`), never stored: the scheduler that dispatches the try,
the replica that receives its terminal report and the agent all name the same trace without
sharing memory, across restarts and replicas. Children are recorded where they happen —
``scheduler.decision`` and ``executor.submit`` (``executor.create_pod``) at dispatch, the
AgentService's gRPC server spans when agents call, the agent's own phase spans when the agent
reports them — and the root span itself (dispatch → final state) once the try has ended, when
its start and end are known.

**Agent spans.** The agent depends only on grpcio, protobuf and jinja2, so it cannot export
spans itself: it measures its phases, gets the try's ``traceparent`` from its executor, sends it
in the metadata of every call (so the server spans nest under the agent's phase), and hands its
finished phase spans to the control plane with its final state report. They are re-created
here with the agent's ids and times (:func:`record_agent_spans`) under a provider whose
``service.name`` is ``<service>-agent``, after checking they belong to the caller's own trace.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from leoflow import __version__

ROOT_SPAN_NAME = "task_instance.try"
AGENT_SPAN_PREFIX = "agent."
MAX_AGENT_SPANS = 64
"""Spans accepted from one agent report; the agent records a handful, more is a defect."""
_MAX_ATTRIBUTES = 32
_MAX_TEXT = 512

# dag_id, task_id, run_id, try_number: the attributes every span of a try's trace carries on
# its root, under the ``leoflow.`` namespace.
ATTR_DAG_ID = "leoflow.dag_id"
ATTR_TASK_ID = "leoflow.task_id"
ATTR_RUN_ID = "leoflow.run_id"
ATTR_TRY_NUMBER = "leoflow.try_number"
ATTR_TENANT = "leoflow.tenant"
ATTR_TASK_TYPE = "leoflow.task_type"
ATTR_STATE = "leoflow.state"


_preset_ids: ContextVar[tuple[int | None, int] | None] = ContextVar(
    "leoflow_preset_span_ids", default=None
)


class _PresetIdGenerator(IdGenerator):
    """Random ids, except inside :func:`_preset`: a span recorded after the fact (the root of a
    try, an agent's phase) keeps the ids its children and log lines already refer to."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        preset = _preset_ids.get()
        return preset[1] if preset is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        preset = _preset_ids.get()
        if preset is not None and preset[0] is not None:
            return preset[0]
        return self._random.generate_trace_id()


@contextlib.contextmanager
def _preset(trace_id: int | None, span_id: int) -> Iterator[None]:
    token = _preset_ids.set((trace_id, span_id))
    try:
        yield
    finally:
        _preset_ids.reset(token)


@dataclass
class _Tracing:
    provider: TracerProvider
    agent_provider: TracerProvider
    endpoints: set[str] = field(default_factory=set)


_state: _Tracing | None = None


def _provider(service_name: str) -> TracerProvider:
    resource = Resource.create({SERVICE_NAME: service_name, SERVICE_VERSION: __version__})
    return TracerProvider(resource=resource, id_generator=_PresetIdGenerator())


def configure_tracing(service_name: str, otlp_endpoint: str | None = None) -> TracerProvider:
    """Install the process-wide tracer provider once; export to ``otlp_endpoint`` when given.

    Later calls return the same provider (the resource of the first call stays) and add an
    exporter for an endpoint not configured yet.
    """
    global _state  # noqa: PLW0603 - the tracer provider is process-wide by nature
    if _state is None:
        provider = _provider(service_name)
        trace.set_tracer_provider(provider)
        _state = _Tracing(provider, _provider(f"{service_name}-agent"))
    if otlp_endpoint and otlp_endpoint not in _state.endpoints:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        for provider in (_state.provider, _state.agent_provider):
            provider.add_span_processor(
                BatchSpanProcessor(
                    OTLPSpanExporter(endpoint=otlp_endpoint), schedule_delay_millis=1000
                )
            )
        _state.endpoints.add(otlp_endpoint)
    return _state.provider


def flush_tracing(timeout_millis: int = 5000) -> None:
    """Export the spans still buffered (at shutdown, so the last tries are not lost)."""
    if _state is not None:
        _state.provider.force_flush(timeout_millis)
        _state.agent_provider.force_flush(timeout_millis)


def get_tracer(name: str) -> trace.Tracer:
    """A tracer for one instrumented module."""
    return trace.get_tracer(name, __version__)


def grpc_server_interceptors() -> list[Any]:
    """OpenTelemetry's gRPC server interceptor: a server span per AgentService call, child of
    the ``traceparent`` the agent sent (so agent calls land in their try's trace).

    None when no traces are exported (no OTLP endpoint configured before the server starts):
    a span per call would then be made and dropped, at a cost comparable to a small call's own.
    """
    if _state is None or not _state.endpoints:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    provider = _state.provider if _state is not None else None
    return [aio_server_interceptor(tracer_provider=provider)]  # type: ignore[no-untyped-call]


# --- the trace of one try -----------------------------------------------------------------


def try_span_ids(ti_id: UUID, try_number: int) -> tuple[int, int]:
    """``(trace_id, root span id)`` of a try: derived, so every process names the same trace."""
    digest = hashlib.sha256(f"leoflow-try:{ti_id}:{try_number}".encode()).digest()
    trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:24], "big") or 1
    return trace_id, span_id


def try_span_context(ti_id: UUID, try_number: int) -> SpanContext:
    """The root span of a try as a (remote) parent for the spans recorded under it."""
    trace_id, span_id = try_span_ids(ti_id, try_number)
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(0x01))


def try_context(ti_id: UUID, try_number: int) -> Context:
    """An OpenTelemetry context whose current span is the try's root: start children in it."""
    return trace.set_span_in_context(NonRecordingSpan(try_span_context(ti_id, try_number)))


def traceparent(ti_id: UUID, try_number: int) -> str:
    """The W3C ``traceparent`` handed to the try's agent (parent: the try's root span)."""
    trace_id, span_id = try_span_ids(ti_id, try_number)
    return f"00-{trace_id:032x}-{span_id:016x}-01"


def try_attributes(
    *, dag_id: str, task_id: str, run_id: str, try_number: int, tenant: str | None = None
) -> dict[str, Any]:
    """The ``leoflow.*`` identity attributes of a try's spans."""
    attributes: dict[str, Any] = {
        ATTR_DAG_ID: dag_id,
        ATTR_TASK_ID: task_id,
        ATTR_RUN_ID: run_id,
        ATTR_TRY_NUMBER: try_number,
    }
    if tenant:
        attributes[ATTR_TENANT] = tenant
    return attributes


def _nanos(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)


def record_try_span(
    ti_id: UUID,
    try_number: int,
    *,
    start: datetime,
    end: datetime,
    attributes: Mapping[str, Any],
    error: str | None = None,
) -> None:
    """Record the root span of a finished try (dispatch → final state) with its derived ids."""
    if _state is None:
        return
    trace_id, span_id = try_span_ids(ti_id, try_number)
    tracer = _state.provider.get_tracer("leoflow.tries", __version__)
    with _preset(trace_id, span_id):
        span = tracer.start_span(
            ROOT_SPAN_NAME,
            context=Context(),
            kind=SpanKind.INTERNAL,
            attributes=dict(attributes),
            start_time=_nanos(start),
        )
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, error[:_MAX_TEXT]))
    span.end(end_time=max(_nanos(end), _nanos(start)))


@dataclass(frozen=True)
class AgentSpan:
    """A finished span measured by an agent (ids as integers, times in Unix nanoseconds)."""

    name: str
    trace_id: int
    span_id: int
    parent_span_id: int
    start_time_ns: int
    end_time_ns: int
    attributes: Mapping[str, str]
    error: str | None = None


def _clean_attributes(values: Mapping[str, str]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for key, value in list(values.items())[:_MAX_ATTRIBUTES]:
        cleaned[str(key)[:128]] = str(value)[:_MAX_TEXT]
    return cleaned


def record_agent_spans(
    spans: Sequence[AgentSpan],
    ti_id: UUID,
    try_number: int,
    attributes: Mapping[str, Any],
) -> int:
    """Re-create an agent's phase spans in its try's trace; returns how many were accepted.

    A span of another trace, without an ``agent.`` name, or with an id of zero is dropped: an
    agent's token allows it to speak for its own try only, and that includes its trace.
    """
    if _state is None:
        return 0
    trace_id, root_id = try_span_ids(ti_id, try_number)
    tracer = _state.agent_provider.get_tracer("leoflow.agent", __version__)
    accepted = 0
    for record in spans[:MAX_AGENT_SPANS]:
        valid = (
            record.trace_id == trace_id
            and record.span_id != 0
            and record.name.startswith(AGENT_SPAN_PREFIX)
            and len(record.name) <= 64
            and record.end_time_ns >= record.start_time_ns > 0
        )
        if not valid:
            continue
        parent = SpanContext(
            trace_id,
            record.parent_span_id or root_id,
            is_remote=True,
            trace_flags=TraceFlags(0x01),
        )
        with _preset(trace_id, record.span_id):
            span = tracer.start_span(
                record.name,
                context=trace.set_span_in_context(NonRecordingSpan(parent)),
                kind=SpanKind.INTERNAL,
                attributes={**_clean_attributes(record.attributes), **attributes},
                start_time=record.start_time_ns,
            )
        if record.error:
            span.set_status(Status(StatusCode.ERROR, record.error[:_MAX_TEXT]))
        span.end(end_time=record.end_time_ns)
        accepted += 1
    return accepted
