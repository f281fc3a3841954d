"""Metrics and spans of the Kubernetes executor, against the STAND-IN API server (no real
kube-apiserver runs here): pod creation (result, duration, span), pending time and pods running
from the pod watch, and API calls by operation and result."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kube_harness import IMAGE, K8sHarness

from harness.execution import dag_json, task
from leoflow.executors.base import ExecutorRefused
from leoflow.telemetry.metrics import REGISTRY
from leoflow.telemetry.tracing import traceparent

pytestmark = pytest.mark.timeout(60)

ETL = dag_json("metered", [task("extract")], image=IMAGE)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def running_status(started_seconds_ago: float) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(seconds=started_seconds_ago)
    return {
        "phase": "Running",
        "conditions": [{"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [
            {
                "name": "task",
                "image": IMAGE,
                "state": {"running": {"startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ")}},
            }
        ],
    }


async def until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_pod_creation_pending_time_and_running_pods_are_measured(k8s: K8sHarness) -> None:
    created = value("leoflow_kubernetes_pods_created_total", result="created")
    again = value("leoflow_kubernetes_pods_created_total", result="already_exists")
    durations = value("leoflow_kubernetes_pod_create_duration_seconds_count")
    pending = value("leoflow_kubernetes_pod_pending_duration_seconds_count")
    creates_ok = value("leoflow_kubernetes_api_calls_total", operation="create", result="ok")
    conflicts = value("leoflow_kubernetes_api_calls_total", operation="create", result="conflict")

    handle = await k8s.queued_run(ETL)
    launch = k8s.launch(handle, "extract")
    launch = replace(launch, traceparent=traceparent(launch.ti_id, launch.try_number))
    await k8s.executor.submit(launch)
    await k8s.executor.submit(launch)  # a duplicate dispatch: no second pod
    assert value("leoflow_kubernetes_pods_created_total", result="created") == created + 1
    assert value("leoflow_kubernetes_pods_created_total", result="already_exists") == again + 1
    assert value("leoflow_kubernetes_pod_create_duration_seconds_count") == durations + 2
    # token Secret + Pod, then the duplicate's Secret and Pod both answered 409 AlreadyExists
    assert value("leoflow_kubernetes_api_calls_total", operation="create", result="ok") >= (
        creates_ok + 2
    )
    assert (
        value("leoflow_kubernetes_api_calls_total", operation="create", result="conflict")
        == conflicts + 2
    )

    name = k8s.standin.names("pods")[0]
    pod = k8s.standin.get("pods", name)
    assert pod is not None
    env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
    assert env["LEOFLOW_AGENT_TRACEPARENT"] == launch.traceparent

    await asyncio.wait_for(k8s.executor.wait_synced(), 10)
    await k8s.standin.set_pod_status(name, running_status(started_seconds_ago=0))
    await until(lambda: value("leoflow_kubernetes_pods_running") == 1)
    assert value("leoflow_kubernetes_pod_pending_duration_seconds_count") == pending + 1
    await k8s.standin.set_pod_status(name, running_status(started_seconds_ago=0))
    assert value("leoflow_kubernetes_pod_pending_duration_seconds_count") == pending + 1


async def test_a_refused_pod_creation_counts_as_failed(k8s: K8sHarness) -> None:
    failed = value("leoflow_kubernetes_pods_created_total", result="failed")
    errors = value("leoflow_kubernetes_api_calls_total", operation="create", result="error")
    handle = await k8s.queued_run(ETL)
    for _ in range(4):
        k8s.standin.fail_next("POST", "/pods", 500)
    with pytest.raises(ExecutorRefused):
        await k8s.executor.submit(k8s.launch(handle, "extract"))
    assert value("leoflow_kubernetes_pods_created_total", result="failed") == failed + 1
    assert (
        value("leoflow_kubernetes_api_calls_total", operation="create", result="error")
        == errors + 1
    )


async def test_pod_creation_is_a_span_under_executor_submit(k8s: K8sHarness) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from leoflow.telemetry import tracing

    provider = tracing.configure_tracing("leoflow")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        handle = await k8s.queued_run(ETL)
        launch = k8s.launch(handle, "extract")
        tracer = trace.get_tracer("test")
        with tracer.start_as_current_span(
            "executor.submit", context=tracing.try_context(launch.ti_id, launch.try_number)
        ):
            await k8s.executor.submit(launch)
        spans = {s.name: s for s in exporter.get_finished_spans()}
        create = spans["executor.create_pod"]
        submit = spans["executor.submit"]
        assert create.parent is not None and create.parent.span_id == submit.context.span_id
        assert create.context.trace_id == tracing.try_span_ids(launch.ti_id, 1)[0]
        assert create.attributes is not None and create.attributes["leoflow.pod_created"] is True
    finally:
        exporter.shutdown()
