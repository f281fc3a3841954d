"""The Prometheus registry every Leoflow metric registers into.

A dedicated registry (not the library's global default) keeps tests isolated and lets the
server expose exactly Leoflow's metrics plus the process and GC collectors. Every metric
definition lives in this module (one concept, one home); the code paths that update a metric
import it from here. Label cardinality stays bounded: no run ids or try numbers as labels.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST


def render_metrics() -> bytes:
    """The registry in Prometheus text exposition format."""
    return generate_latest(REGISTRY)
