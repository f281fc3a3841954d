"""Telemetry base: JSON log lines with context, trace ids and masked secrets; the registry."""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from leoflow.telemetry import (
    bind_context,
    configure_logging,
    configure_tracing,
    get_logger,
    get_tracer,
    render_metrics,
)


@pytest.fixture(autouse=True)
def _clean_context() -> None:
    structlog.contextvars.clear_contextvars()


def _last_json_line(out: str) -> dict[str, object]:
    lines = [line for line in out.splitlines() if line.startswith("{")]
    parsed: dict[str, object] = json.loads(lines[-1])
    return parsed


def test_json_line_carries_bound_context_and_masks_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "INFO")
    bind_context(dag_id="etl", run_id="manual__2026", task_id="extract", try_number=2)
    get_logger("test").info("task started", password="hunter2", api_token="t0k3n")
    line = _last_json_line(capsys.readouterr().out)
    assert line["event"] == "task started"
    assert line["dag_id"] == "etl"
    assert line["try_number"] == 2
    assert line["password"] == "***"
    assert line["api_token"] == "***"
    assert "hunter2" not in json.dumps(line)


def test_trace_and_span_ids_inside_a_span(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    configure_tracing("leoflow-test")
    with get_tracer("test").start_as_current_span("work") as span:
        get_logger("test").info("inside")
        ctx = span.get_span_context()
    line = _last_json_line(capsys.readouterr().out)
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")


def test_stdlib_loggers_are_rendered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("json", "INFO")
    logging.getLogger("uvicorn.error").info("server up")
    line = _last_json_line(capsys.readouterr().out)
    assert line["event"] == "server up"
    assert line["level"] == "info"


def test_registry_exposes_process_collectors() -> None:
    text = render_metrics().decode()
    assert "process_cpu_seconds_total" in text
    assert "python_gc_objects_collected_total" in text
