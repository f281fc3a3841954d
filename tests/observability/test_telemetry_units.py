"""The telemetry building blocks on their own: the metric catalogue, the trace of a try, the
agent's span records and log lines, the relay of agent output, the embedded-database gauge and
the dedicated metrics port."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import urllib.request
import uuid
from pathlib import Path

import pytest
import structlog
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.metrics import MetricWrapperBase

from leoflow.devtools import dashboards
from leoflow.telemetry import logging as telemetry_logging
from leoflow.telemetry import metrics, tracing
from leoflow_sdk.agent.telemetry import AgentLog, AgentTracer, parse_traceparent, write_task_line
from leoflow_sdk.protocol import agent_pb2

UNBOUNDED_LABELS = {"run_id", "try_number", "ti_id", "map_index", "run_uuid", "logical_date"}


def _definitions() -> dict[str, MetricWrapperBase]:
    return {
        name: value for name, value in vars(metrics).items() if isinstance(value, MetricWrapperBase)
    }


# --- metrics ------------------------------------------------------------------------------------


def test_every_metric_has_help_text_and_bounded_labels() -> None:
    definitions = _definitions()
    assert len(definitions) >= 40
    for name, metric in definitions.items():
        assert metric._documentation.strip(), f"{name} has no help text"
        assert metric._name.startswith("leoflow_"), name
        assert not set(metric._labelnames) & UNBOUNDED_LABELS, f"{name}: {metric._labelnames}"


def test_every_dashboard_query_names_a_registered_metric() -> None:
    families = {family.name for family in metrics.REGISTRY.collect()}
    names = {
        *(f"{f}_total" for f in families),
        *(f"{f}_bucket" for f in families),
        *(f"{f}_count" for f in families),
        *families,
    }
    for query in dashboards.queries():
        for metric in re.findall(r"\b((?:leoflow|process|python)_[a-z_]+)", query):
            assert metric in names, f"dashboard query names unknown metric {metric}: {query}"


def test_the_committed_dashboard_is_the_generated_one() -> None:
    repo = Path(__file__).resolve().parents[2]
    for rel, text in dashboards.render_dashboards().items():
        assert (repo / rel).read_text(encoding="utf-8") == text, f"run `make regen` ({rel})"


def test_embedded_database_gauge_follows_the_postmaster(tmp_path: Path) -> None:
    def up() -> float | None:
        return metrics.REGISTRY.get_sample_value("leoflow_embedded_database_up")

    metrics.watch_embedded_database(None)
    assert up() == 0.0
    metrics.watch_embedded_database(tmp_path)
    assert up() == 0.0  # no postmaster.pid: not running
    (tmp_path / "postmaster.pid").write_text(f"{os.getpid()}\n{tmp_path}\n", encoding="utf-8")
    assert up() == 1.0
    (tmp_path / "postmaster.pid").write_text("999999999\n", encoding="utf-8")
    assert up() == 0.0
    metrics.watch_embedded_database(None)


def test_dedicated_metrics_port_serves_the_registry() -> None:
    port = metrics.start_metrics_server(0, "127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        assert "leoflow_task_duration_seconds" in text
        assert "python_gc_collections_total" in text
    finally:
        metrics.stop_metrics_server()


# --- the trace of a try -------------------------------------------------------------------------


def test_a_try_has_one_stable_trace_and_the_next_try_another() -> None:
    ti = uuid.uuid4()
    assert tracing.try_span_ids(ti, 1) == tracing.try_span_ids(ti, 1)
    assert tracing.try_span_ids(ti, 1)[0] != tracing.try_span_ids(ti, 2)[0]
    trace_id, span_id = tracing.try_span_ids(ti, 1)
    header = tracing.traceparent(ti, 1)
    assert header == f"00-{trace_id:032x}-{span_id:016x}-01"
    parsed = parse_traceparent(header)
    assert parsed is not None
    assert parsed.trace_id == trace_id.to_bytes(16, "big")


@pytest.fixture
def exported() -> InMemorySpanExporter:
    tracing.configure_tracing("leoflow")
    assert tracing._state is not None
    exporter = InMemorySpanExporter()
    for provider in (tracing._state.provider, tracing._state.agent_provider):
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later spans are dropped by this exporter


def test_agent_spans_join_the_try_trace_and_foreign_ones_are_dropped(
    exported: InMemorySpanExporter,
) -> None:
    ti = uuid.uuid4()
    tracer = AgentTracer(parse_traceparent(tracing.traceparent(ti, 1)))
    with tracer.span("agent.fetch_xcom") as fetch:
        fetch.set("leoflow.xcom.inputs", 2)
        assert tracer.metadata()[0][1].split("-")[2] == fetch.span_id.hex()
    with pytest.raises(RuntimeError), tracer.span("agent.execute_user_code"):
        raise RuntimeError("boom")
    records = tracer.records()
    foreign = agent_pb2.SpanRecord()
    foreign.CopyFrom(records[0])
    foreign.trace_id = os.urandom(16)
    spans = [
        tracing.AgentSpan(
            name=r.name,
            trace_id=int.from_bytes(r.trace_id, "big"),
            span_id=int.from_bytes(r.span_id, "big"),
            parent_span_id=int.from_bytes(r.parent_span_id, "big") if r.parent_span_id else 0,
            start_time_ns=r.start_time.ToNanoseconds(),
            end_time_ns=r.end_time.ToNanoseconds(),
            attributes=dict(r.attributes),
            error=r.error or None,
        )
        for r in [*records, foreign]
    ]
    accepted = tracing.record_agent_spans(spans, ti, 1, {"leoflow.task_id": "t"})
    assert accepted == 2
    trace_id, root_id = tracing.try_span_ids(ti, 1)
    finished = {s.name: s for s in exported.get_finished_spans()}
    assert set(finished) == {"agent.fetch_xcom", "agent.execute_user_code"}
    for span in finished.values():
        assert span.context.trace_id == trace_id
        assert span.parent is not None and span.parent.span_id == root_id
        assert span.resource.attributes["service.name"].endswith("-agent")
    assert finished["agent.fetch_xcom"].attributes["leoflow.xcom.inputs"] == "2"
    assert not finished["agent.execute_user_code"].status.is_ok


def test_the_root_span_is_recorded_with_the_derived_ids(exported: InMemorySpanExporter) -> None:
    from datetime import UTC, datetime, timedelta

    ti = uuid.uuid4()
    end = datetime.now(UTC)
    tracing.record_try_span(
        ti, 3, start=end - timedelta(seconds=2), end=end, attributes={"leoflow.try_number": 3}
    )
    (root,) = exported.get_finished_spans()
    assert (root.context.trace_id, root.context.span_id) == tracing.try_span_ids(ti, 3)
    assert root.parent is None
    assert root.name == "task_instance.try"
    assert root.end_time is not None and root.start_time is not None
    assert root.end_time - root.start_time == 2_000_000_000


def test_an_agent_without_a_traceparent_records_nothing() -> None:
    tracer = AgentTracer(parse_traceparent(None))
    with tracer.span("agent.push_xcom"):
        pass
    assert tracer.records() == [] and tracer.metadata() == ()
    assert parse_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
    assert parse_traceparent("garbage") is None


# --- log lines ----------------------------------------------------------------------------------


def test_agent_log_lines_are_json_with_the_try_and_its_trace() -> None:
    stream = io.StringIO()
    tracer = AgentTracer(parse_traceparent(tracing.traceparent(uuid.uuid4(), 1)))
    log = AgentLog("json", tracer=tracer, stream=stream)
    log.bind(tenant="default", dag_id="d", run_id="r", task_id="t", try_number=1)
    with tracer.span("agent.execute_user_code") as phase:
        log.warning("something to say", detail="x")
    record = json.loads(stream.getvalue())
    assert record["event"] == "something to say"
    assert record["level"] == "warning"
    assert record["span_id"] == phase.span_id.hex()
    assert record["trace_id"] == tracer.parent.trace_id.hex()  # type: ignore[union-attr]
    for key in ("tenant", "dag_id", "run_id", "task_id", "try_number", "timestamp", "detail"):
        assert key in record
    console = io.StringIO()
    AgentLog("console", stream=console).error("plain")
    assert console.getvalue() == "leoflow agent: plain\n"


def test_echoed_task_output_is_wrapped_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    write_task_line(agent_pb2.LOG_STREAM_STDOUT, "hello", AgentLog("json"))
    record = json.loads(capsys.readouterr().out)
    assert (record["event"], record["logger"], record["stream"]) == ("hello", "task", "stdout")


def test_agent_output_relay_keeps_json_and_wraps_the_rest() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    saved = (telemetry_logging._State.format, telemetry_logging._State.handler)
    telemetry_logging._State.format, telemetry_logging._State.handler = "json", handler
    try:
        line = json.dumps({"event": "agent registered", "level": "info", "task_id": "t"})
        telemetry_logging.relay_agent_output(line, task_id="t")
        assert buffer.getvalue() == line + "\n"
        with structlog.testing.capture_logs() as captured:
            telemetry_logging.relay_agent_output("Traceback (most recent call last):", dag_id="d")
        assert captured[0]["event"] == "Traceback (most recent call last):"
        assert captured[0]["dag_id"] == "d"
    finally:
        telemetry_logging._State.format, telemetry_logging._State.handler = saved
