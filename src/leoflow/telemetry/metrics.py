"""The Prometheus registry every Leoflow metric registers into.

A dedicated registry (not the library's global default) keeps tests isolated and lets the
server expose exactly Leoflow's metrics plus the process and GC collectors. Every metric
definition lives in this module (one concept, one home); the code paths that update a metric
import it from here. Label cardinality stays bounded: no run ids or try numbers as labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
    start_http_server,
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


# --- auth -------------------------------------------------------------------------------------
AUTH_FAILURES = Counter(
    "leoflow_auth_failures",
    "Refused logins and refused API requests, by reason.",
    ["reason"],
    registry=REGISTRY,
)
"""``reason``: bad_credentials, unknown_user, inactive_user, throttled, not_authenticated,
token_expired, invalid_token, revoked_token, forbidden (a bounded set)."""


# --- execution path: agent service, XCom, task logs, executors ------------------------------
_SIZE_BUCKETS = (64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)

AGENT_RPCS = Counter(
    "leoflow_agent_rpcs_total",
    "AgentService calls answered, by method and gRPC status code.",
    ["method", "code"],
    registry=REGISTRY,
)
AGENT_RPC_DURATION = Histogram(
    "leoflow_agent_rpc_duration_seconds",
    "Time to answer one AgentService call, by method.",
    ["method"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
AGENT_CALL_REFUSALS = Counter(
    "leoflow_agent_call_refusals_total",
    "AgentService calls answered with an error status (not business refusals), by reason.",
    ["reason"],
    registry=REGISTRY,
)
"""``reason``: missing_token, expired_token, invalid_token, scope_mismatch, not_found,
undeclared_upstream, insecure_secrets, stale_try, no_secret_key, bad_request."""
XCOM_PUSHES = Counter(
    "leoflow_xcom_pushes_total",
    "XCom values stored, by backend.",
    ["backend"],
    registry=REGISTRY,
)
XCOM_PULLS = Counter(
    "leoflow_xcom_pulls_total",
    "XCom values read for a task, by backend and whether a value was found.",
    ["backend", "found"],
    registry=REGISTRY,
)
XCOM_SIZE = Histogram(
    "leoflow_xcom_size_bytes",
    "Size of XCom values pushed and pulled, by operation.",
    ["operation"],
    buckets=_SIZE_BUCKETS,
    registry=REGISTRY,
)
XCOM_REJECTIONS = Counter(
    "leoflow_xcom_rejections_total",
    "XCom pushes or fan-in deliveries refused by the policy, by reason.",
    ["reason"],
    registry=REGISTRY,
)
XCOM_EXPIRED_SWEPT = Counter(
    "leoflow_xcom_expired_swept_total",
    "Expired XCom values removed by the periodic sweep.",
    registry=REGISTRY,
)
TASK_LOG_LINES = Counter(
    "leoflow_task_log_lines_total",
    "Task log lines stored, by stream (stdout, stderr, agent).",
    ["stream"],
    registry=REGISTRY,
)
TASK_LOG_DUPLICATES = Counter(
    "leoflow_task_log_duplicate_lines_total",
    "Task log lines dropped because an agent resent them after a reconnect.",
    registry=REGISTRY,
)
SUBPROCESS_AGENTS = Gauge(
    "leoflow_subprocess_agents",
    "Agent processes currently running under the subprocess executor.",
    registry=REGISTRY,
)
SUBPROCESS_SLOT_WAIT = Histogram(
    "leoflow_subprocess_slot_wait_seconds",
    "Time a launch waited for a free subprocess slot (parallelism).",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
VENV_BUILDS = Counter(
    "leoflow_venv_builds_total",
    "DAG virtualenv builds, by outcome (built, failed).",
    ["outcome"],
    registry=REGISTRY,
)
VENV_BUILD_DURATION = Histogram(
    "leoflow_venv_build_duration_seconds",
    "Time to build one DAG virtualenv.",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)
INLINE_HTTP_REQUESTS = Counter(
    "leoflow_inline_http_requests_total",
    "Inline http_api tries, by outcome (success, failed, refused, timeout, error).",
    ["outcome"],
    registry=REGISTRY,
)
INLINE_HTTP_DURATION = Histogram(
    "leoflow_inline_http_duration_seconds",
    "Duration of inline http_api requests (all redirects included).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
SSRF_REFUSALS = Counter(
    "leoflow_inline_http_ssrf_refusals_total",
    "Inline HTTP requests refused because the target resolved to a forbidden network, by kind.",
    ["kind"],
    registry=REGISTRY,
)


# --- HTTP API ----------------------------------------------------------------------------------
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

API_REQUESTS = Counter(
    "leoflow_api_requests",
    "HTTP requests answered by the API, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
"""``route`` is the matched path template (``/api/v2/dags/{dag_id}``), never the raw path, so
the label set stays bounded; requests matching no route count as ``unmatched``."""
API_REQUEST_DURATION = Histogram(
    "leoflow_api_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
    registry=REGISTRY,
)

# --- Kubernetes executor -------------------------------------------------------------------
_POD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)

KUBERNETES_PODS_CREATED = Counter(
    "leoflow_kubernetes_pods_created_total",
    "Task pod creations by the kubernetes executor, by result (created, already_exists, failed).",
    ["result"],
    registry=REGISTRY,
)
"""``already_exists``: a duplicate dispatch found the try's pod in place (not a new pod)."""
KUBERNETES_POD_CREATE_DURATION = Histogram(
    "leoflow_kubernetes_pod_create_duration_seconds",
    "Time for the API server to accept one task pod (token Secret and Pod create calls).",
    buckets=_POD_BUCKETS,
    registry=REGISTRY,
)
KUBERNETES_POD_PENDING_DURATION = Histogram(
    "leoflow_kubernetes_pod_pending_duration_seconds",
    "Time a task pod spent Pending (created until its task container started): scheduling, "
    "image pull, volume attach.",
    buckets=_POD_BUCKETS,
    registry=REGISTRY,
)
KUBERNETES_PODS_RUNNING = Gauge(
    "leoflow_kubernetes_pods_running",
    "Task pods of this installation in phase Running, as the pod watch last saw them.",
    registry=REGISTRY,
)
KUBERNETES_API_CALLS = Counter(
    "leoflow_kubernetes_api_calls_total",
    "Kubernetes API calls of the executor, by operation (create, get, delete, list, watch, "
    "patch, log) and result (ok, not_found, conflict, error).",
    ["operation", "result"],
    registry=REGISTRY,
)
KUBERNETES_POD_FAILURES = Counter(
    "leoflow_kubernetes_pod_failures_total",
    "Tries the kubernetes executor failed because their pod could not run or vanished.",
    ["problem"],
    registry=REGISTRY,
)
KUBERNETES_CLEANUPS = Counter(
    "leoflow_kubernetes_cleanups_total",
    "Objects the kubernetes executor deleted, by kind and cause.",
    ["kind", "cause"],
    registry=REGISTRY,
)


# --- task outcomes (any executor) --------------------------------------------------------------
_TASK_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600)
_COLD_START_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30, 60, 120, 300)

TASK_DURATION = Histogram(
    "leoflow_task_duration_seconds",
    "Run time of finished tries (running until the final report), by DAG, task and task type.",
    ["dag_id", "task_id", "task_type"],
    buckets=_TASK_BUCKETS,
    registry=REGISTRY,
)
"""DAG and task ids are bounded by what is deployed; run ids and try numbers never appear."""
TASK_COLD_START = Histogram(
    "leoflow_task_cold_start_seconds",
    "Time from dispatch (queued) to the agent reporting running: process or pod start, venv or "
    "image, agent start-up and input fetch, by DAG and task type.",
    ["dag_id", "task_type"],
    buckets=_COLD_START_BUCKETS,
    registry=REGISTRY,
)
AGENT_SPANS = Counter(
    "leoflow_agent_spans_total",
    "Phase spans reported by agents, by whether they were accepted into the try's trace.",
    ["accepted"],
    registry=REGISTRY,
)


# --- process ---------------------------------------------------------------------------------
EMBEDDED_DATABASE_UP = Gauge(
    "leoflow_embedded_database_up",
    "1 while the embedded PostgreSQL this process started is running, else 0 (always 0 with an "
    "external database).",
    registry=REGISTRY,
)


def watch_embedded_database(data_dir: Path | None) -> None:
    """Make ``leoflow_embedded_database_up`` follow the server in ``data_dir`` (checked at each
    scrape: its ``postmaster.pid`` names a live process), or stay 0 when there is none."""
    if data_dir is None:
        EMBEDDED_DATABASE_UP.set_function(lambda: 0.0)
        return
    pid_file = Path(data_dir) / "postmaster.pid"

    def is_up() -> float:
        try:
            pid = int(pid_file.read_text(encoding="utf-8").split("\n", 1)[0].strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return 0.0
        return 1.0

    EMBEDDED_DATABASE_UP.set_function(is_up)


_metrics_server: tuple[Any, Any] | None = None


def start_metrics_server(port: int, host: str = "0.0.0.0") -> int:
    """Serve ``/metrics`` on a dedicated port (``LEOFLOW_METRICS_PORT``): scrapes keep working
    while the API port is saturated or behind authentication. Returns the bound port."""
    global _metrics_server  # noqa: PLW0603 - one exporter per process
    if _metrics_server is None:
        _metrics_server = start_http_server(port, addr=host, registry=REGISTRY)
    return int(_metrics_server[0].server_port)


def stop_metrics_server() -> None:
    """Stop the dedicated metrics port, if it was started."""
    global _metrics_server  # noqa: PLW0603 - one exporter per process
    if _metrics_server is not None:
        server, thread = _metrics_server
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        _metrics_server = None
