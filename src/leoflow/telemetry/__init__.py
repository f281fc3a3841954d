"""Telemetry for every Leoflow process: JSON logs, Prometheus metrics, OpenTelemetry traces.

One place configures all three; everything else just asks for a logger, a metric or a tracer.
"""

from leoflow.telemetry.logging import bind_context, configure_logging, get_logger
from leoflow.telemetry.metrics import REGISTRY, render_metrics
from leoflow.telemetry.tracing import configure_tracing, get_tracer

__all__ = [
    "REGISTRY",
    "bind_context",
    "configure_logging",
    "configure_tracing",
    "get_logger",
    "get_tracer",
    "render_metrics",
]
