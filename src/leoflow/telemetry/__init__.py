"""Telemetry for every Leoflow process: JSON logs, Prometheus metrics, OpenTelemetry traces.

One place configures all three; everything else just asks for a logger, a metric or a tracer.
"""

from leoflow.telemetry.logging import (
    bind_context,
    configure_logging,
    current_log_format,
    get_logger,
    relay_agent_output,
)
from leoflow.telemetry.metrics import REGISTRY, render_metrics
from leoflow.telemetry.tracing import configure_tracing, flush_tracing, get_tracer

__all__ = [
    "REGISTRY",
    "bind_context",
    "configure_logging",
    "configure_tracing",
    "current_log_format",
    "flush_tracing",
    "get_logger",
    "get_tracer",
    "relay_agent_output",
    "render_metrics",
]
