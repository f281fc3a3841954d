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
    Counter,
    Gauge,
    GCCollector,
    Histogram,
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


# --- Scheduler -----------------------------------------------------------------------------
_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

SCHEDULER_LOOP_DURATION = Histogram(
    "leoflow_scheduler_loop_duration_seconds",
    "Duration of one scheduler reconciliation pass.",
    ["pass_kind"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_DECISIONS = Counter(
    "leoflow_scheduler_decisions_total",
    "State moves decided by the scheduler, by kind of decision.",
    ["decision_type"],
    registry=REGISTRY,
)
SCHEDULER_LEADER = Gauge(
    "leoflow_scheduler_leader",
    "1 while this process holds scheduler leadership, else 0.",
    registry=REGISTRY,
)
SCHEDULER_PASS_ERRORS = Counter(
    "leoflow_scheduler_pass_errors_total",
    "Exceptions caught in a scheduler pass or for one run/candidate (the loop went on).",
    ["stage"],
    registry=REGISTRY,
)
ACTIVE_DAG_RUNS = Gauge(
    "leoflow_active_dag_runs",
    "DAG runs that are queued or running, by state (as of the last full pass).",
    ["state"],
    registry=REGISTRY,
)
QUEUED_TASKS = Gauge(
    "leoflow_queued_tasks",
    "Task instances handed to executors but not yet running (as of the last full pass).",
    registry=REGISTRY,
)
TASK_STATE_TRANSITIONS = Counter(
    "leoflow_task_state_transitions_total",
    "Task instance state changes applied, by source and target state.",
    ["from_state", "to_state"],
    registry=REGISTRY,
)
TASK_RETRIES = Counter(
    "leoflow_task_retries_total",
    "Failed tries that went up for retry.",
    registry=REGISTRY,
)
DISPATCH_QUEUE_DEPTH = Gauge(
    "leoflow_dispatch_queue_depth",
    "Task instances waiting in the dispatch pool's queue.",
    registry=REGISTRY,
)
DISPATCH_AT_CAPACITY = Counter(
    "leoflow_dispatch_at_capacity_total",
    "Passes that left scheduled task instances waiting because the dispatch pool was full.",
    registry=REGISTRY,
)
DISPATCH_LATENCY = Histogram(
    "leoflow_dispatch_latency_seconds",
    "Time from claiming a task instance (queued) to the executor accepting it.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
ORPHAN_RUNS_REAPED = Counter(
    "leoflow_orphan_runs_reaped_total",
    "Runs whose task instances were all settled but that were still running, finalized by a "
    "safety-net pass.",
    registry=REGISTRY,
)
AGENT_LOST = Counter(
    "leoflow_agent_lost_total",
    "Running task instances failed because their heartbeat stopped.",
    registry=REGISTRY,
)
DISPATCH_LOST = Counter(
    "leoflow_dispatch_lost_total",
    "Queued task instances that never started, by action taken (redispatched, failed).",
    ["action"],
    registry=REGISTRY,
)
SCHEDULING_LATENCY = Histogram(
    "leoflow_scheduling_latency_seconds",
    "Time from an upstream task's terminal report to its downstream task being dispatched.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
