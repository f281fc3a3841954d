"""The Grafana dashboard of Leoflow, generated from the panel list below.

Written as code rather than exported from a Grafana instance so each panel's query is reviewable
in one line, and a test can check that every metric a panel queries exists in
:mod:`leoflow.telemetry.metrics` (a renamed metric cannot leave a silently empty panel).
``leoflow.devtools.generated`` renders it twice: ``helm/dashboards/leoflow.json`` (import it in
any Grafana) and the chart's copy ``helm/leoflow/dashboards/leoflow.json`` (a chart can only read
files inside itself), which the chart ships as a ConfigMap when ``grafanaDashboard.enabled``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASHBOARD_FILES = (
    Path("helm/dashboards/leoflow.json"),
    Path("helm/leoflow/dashboards/leoflow.json"),
)
UID = "leoflow-overview"
DS = {"type": "prometheus", "uid": "${datasource}"}
DAG = 'dag_id=~"$dag_id"'


@dataclass(frozen=True)
class Panel:
    """One panel: a title, its queries (``legend``, ``PromQL``), its unit and kind."""

    title: str
    queries: tuple[tuple[str, str], ...]
    unit: str = "short"
    kind: str = "timeseries"
    description: str = ""
    width: int = 8


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _p95(metric: str, by: str = "", where: str = "") -> str:
    group = f"le{', ' + by if by else ''}"
    selector = f"{{{where}}}" if where else ""
    return (
        f"histogram_quantile(0.95, sum by ({group}) "
        f"(rate({metric}_bucket{selector}[$__rate_interval])))"
    )


ROWS: tuple[Row, ...] = (
    Row(
        "Scheduler health",
        (
            Panel(
                "Leader",
                (("{{pod}}", "max by (pod) (leoflow_scheduler_leader)"),),
                kind="stat",
                description="1 on the replica holding scheduler leadership; exactly one should.",
                width=4,
            ),
            Panel(
                "Loop duration p95",
                (("{{pass_kind}}", _p95("leoflow_scheduler_loop_duration_seconds", "pass_kind")),),
                unit="s",
                width=5,
            ),
            Panel(
                "Decisions /s",
                (
                    (
                        "{{decision_type}}",
                        "sum by (decision_type) (rate(leoflow_scheduler_decisions_total"
                        "[$__rate_interval]))",
                    ),
                ),
                unit="ops",
                width=5,
            ),
            Panel(
                "Active runs / queued tasks",
                (
                    ("runs {{state}}", "max by (state) (leoflow_active_dag_runs)"),
                    ("queued tasks", "max(leoflow_queued_tasks)"),
                ),
                width=5,
            ),
            Panel(
                "Dispatch queue",
                (
                    ("depth", "max(leoflow_dispatch_queue_depth)"),
                    (
                        "at capacity /s",
                        "sum(rate(leoflow_dispatch_at_capacity_total[$__rate_interval]))",
                    ),
                ),
                width=5,
            ),
            Panel(
                "Safety nets (per 5 min)",
                (
                    ("orphan runs reaped", "sum(increase(leoflow_orphan_runs_reaped_total[5m]))"),
                    ("agent lost", "sum(increase(leoflow_agent_lost_total[5m]))"),
                    (
                        "dispatch lost {{action}}",
                        "sum by (action) (increase(leoflow_dispatch_lost_total[5m]))",
                    ),
                    (
                        "pass errors {{stage}}",
                        "sum by (stage) (increase(leoflow_scheduler_pass_errors_total[5m]))",
                    ),
                ),
                description="Should stay at zero: each one is a try or a run rescued by a reaper.",
                width=24,
            ),
        ),
    ),
    Row(
        "Latency: is it slow, and where?",
        (
            Panel(
                "Scheduling latency (upstream report → downstream dispatch)",
                (
                    ("p50", _p95("leoflow_scheduling_latency_seconds").replace("0.95", "0.5")),
                    ("p95", _p95("leoflow_scheduling_latency_seconds")),
                ),
                unit="s",
            ),
            Panel(
                "Dispatch latency p95 (claimed → executor accepted)",
                (("p95", _p95("leoflow_dispatch_latency_seconds")),),
                unit="s",
            ),
            Panel(
                "Cold start p95 (dispatch → agent running), by DAG",
                (("{{dag_id}}", _p95("leoflow_task_cold_start_seconds", "dag_id", DAG)),),
                unit="s",
            ),
            Panel(
                "Task duration p95, by DAG and task",
                (
                    (
                        "{{dag_id}}.{{task_id}}",
                        _p95("leoflow_task_duration_seconds", "dag_id, task_id", DAG),
                    ),
                ),
                unit="s",
                width=24,
            ),
        ),
    ),
    Row(
        "Task outcomes",
        (
            Panel(
                "Tries finished /s, by state",
                (
                    (
                        "{{to_state}}",
                        "sum by (to_state) (rate(leoflow_task_state_transitions_total"
                        '{to_state=~"success|failed|up_for_retry|skipped|upstream_failed"}'
                        "[$__rate_interval]))",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Retries (per 5 min)",
                (("retries", "sum(increase(leoflow_task_retries_total[5m]))"),),
            ),
            Panel(
                "Tries finished, by DAG (per 5 min)",
                (
                    (
                        "{{dag_id}}",
                        f"sum by (dag_id) (increase(leoflow_task_duration_seconds_count{{{DAG}}}"
                        "[5m]))",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "Kubernetes executor",
        (
            Panel(
                "Pods running / created",
                (
                    ("running", "sum(leoflow_kubernetes_pods_running)"),
                    (
                        "created {{result}} /s",
                        "sum by (result) (rate(leoflow_kubernetes_pods_created_total"
                        "[$__rate_interval]))",
                    ),
                ),
                width=6,
            ),
            Panel(
                "Pod create / pending p95",
                (
                    ("create", _p95("leoflow_kubernetes_pod_create_duration_seconds")),
                    ("pending", _p95("leoflow_kubernetes_pod_pending_duration_seconds")),
                ),
                unit="s",
                width=6,
            ),
            Panel(
                "Kubernetes API calls /s",
                (
                    (
                        "{{operation}} {{result}}",
                        "sum by (operation, result) (rate(leoflow_kubernetes_api_calls_total"
                        "[$__rate_interval]))",
                    ),
                ),
                unit="ops",
                width=6,
            ),
            Panel(
                "Pod failures (per 5 min)",
                (
                    (
                        "{{problem}}",
                        "sum by (problem) (increase(leoflow_kubernetes_pod_failures_total[5m]))",
                    ),
                ),
                width=6,
            ),
        ),
    ),
    Row(
        "XCom",
        (
            Panel(
                "Pushes / pulls /s",
                (
                    ("pushes", "sum(rate(leoflow_xcom_pushes_total[$__rate_interval]))"),
                    (
                        "pulls found={{found}}",
                        "sum by (found) (rate(leoflow_xcom_pulls_total[$__rate_interval]))",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Value size p95",
                (("{{operation}}", _p95("leoflow_xcom_size_bytes", "operation")),),
                unit="bytes",
            ),
            Panel(
                "Rejections (per 5 min), by reason",
                (
                    (
                        "{{reason}}",
                        "sum by (reason) (increase(leoflow_xcom_rejections_total[5m]))",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "API",
        (
            Panel(
                "Requests /s, by status",
                (
                    (
                        "{{status}}",
                        "sum by (status) (rate(leoflow_api_requests_total[$__rate_interval]))",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Latency p95, by route",
                (("{{route}}", _p95("leoflow_api_request_duration_seconds", "route")),),
                unit="s",
            ),
            Panel(
                "Auth failures (per 5 min), by reason",
                (
                    (
                        "{{reason}}",
                        "sum by (reason) (increase(leoflow_auth_failures_total[5m]))",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "Process",
        (
            Panel(
                "CPU",
                (("{{pod}}", "sum by (pod) (rate(process_cpu_seconds_total[$__rate_interval]))"),),
                unit="percentunit",
                width=6,
            ),
            Panel(
                "Resident memory",
                (("{{pod}}", "sum by (pod) (process_resident_memory_bytes)"),),
                unit="bytes",
                width=6,
            ),
            Panel(
                "GC collections /s",
                (
                    (
                        "gen {{generation}}",
                        "sum by (generation) (rate(python_gc_collections_total[$__rate_interval]))",
                    ),
                ),
                width=6,
            ),
            Panel(
                "Embedded database up (Lite)",
                (("up", "max(leoflow_embedded_database_up)"),),
                kind="stat",
                width=6,
            ),
        ),
    ),
)


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [
        {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
        for i, (legend, expr) in enumerate(panel.queries)
    ]
    data: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "datasource": DS,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": targets,
    }
    if panel.description:
        data["description"] = panel.description
    return data


def _variables() -> list[dict[str, Any]]:
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
        },
        {
            "name": "dag_id",
            "label": "DAG",
            "type": "query",
            "datasource": DS,
            "query": {
                "query": "label_values(leoflow_task_duration_seconds_count, dag_id)",
                "refId": "dag_id",
            },
            "definition": "label_values(leoflow_task_duration_seconds_count, dag_id)",
            "includeAll": True,
            "allValue": ".*",
            "multi": True,
            "current": {"text": "All", "value": "$__all"},
            "refresh": 2,
            "sort": 1,
            "hide": 0,
        },
    ]


def build_dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    panels: list[dict[str, Any]] = []
    next_id, y = 1, 0
    for row in ROWS:
        panels.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id, y, x = next_id + 1, y + 1, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, next_id, x, y))
            next_id, x = next_id + 1, x + panel.width
        y += 8
    return {
        "uid": UID,
        "title": "Leoflow",
        "description": "Scheduler health, latency, task outcomes, Kubernetes, XCom and API of "
        "Leoflow, from its own Prometheus metrics.",
        "tags": ["leoflow"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": _variables()},
        "annotations": {"list": []},
        "panels": panels,
    }


def queries() -> list[str]:
    """Every PromQL expression of the dashboard (tests check the metrics they name exist)."""
    return [expr for row in ROWS for panel in row.panels for _, expr in panel.queries]


def render_dashboards() -> dict[Path, str]:
    """The dashboard files, relative to the repository root."""
    text = json.dumps(build_dashboard(), indent=2) + "\n"
    return dict.fromkeys(DASHBOARD_FILES, text)
