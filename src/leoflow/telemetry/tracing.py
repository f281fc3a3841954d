"""OpenTelemetry tracing: off unless an OTLP endpoint is configured.

With no endpoint a tracer provider is still installed (so spans have valid ids for log
correlation and W3C context propagation) but nothing is exported.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from leoflow import __version__

_configured: TracerProvider | None = None


def configure_tracing(service_name: str, otlp_endpoint: str | None = None) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls return the same provider."""
    global _configured  # noqa: PLW0603 - the tracer provider is process-wide by nature
    if _configured is not None:
        return _configured
    resource = Resource.create({SERVICE_NAME: service_name, SERVICE_VERSION: __version__})
    provider = TracerProvider(resource=resource)
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    trace.set_tracer_provider(provider)
    _configured = provider
    return provider


def get_tracer(name: str) -> trace.Tracer:
    """A tracer for one instrumented module."""
    return trace.get_tracer(name, __version__)
