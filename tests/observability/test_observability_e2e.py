"""Observability end to end: a real control plane (``leoflow server`` in a subprocess, Lite
edition, subprocess executor), real agents in a real DAG virtualenv, a real PostgreSQL, the
real REST API — and an in-process OTLP receiver speaking the OTLP/gRPC protocol.

One small DAG (``extract`` → ``load``, an XCom between them) runs through the API; then:

* ``/metrics`` (API port and dedicated port) has every metric the issue names, with help text,
  and the ones this run exercised are non-zero;
* the spans of ``load``'s try — control plane and agent — form one trace: one root with the
  ``leoflow.*`` attributes, ``scheduler.decision``, ``executor.submit`` and the agent's phases
  under it, the AgentService's gRPC server spans under the agent phase that made each call;
* every line the control plane wrote on stdout (its own and its agents' lines) is a JSON object
  with the correlation fields of the try it is about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from leoflow.compiler.project import compile_project
from observability.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

LEOFLOW = Path(sys.executable).with_name("leoflow")
ADMIN_PASSWORD = "observability-admin-password"
DAG_ID = "observed"
DAG = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1))
    def observed():
        @task
        def extract() -> dict:
            return {"a": 1, "b": 2}

        @task
        def load(rows: dict) -> int:
            print("loading", len(rows), "rows")
            return sum(rows.values())

        load(extract())

    observed()
"""

ISSUE_METRICS = {
    # scheduler
    "leoflow_scheduler_loop_duration_seconds": True,
    "leoflow_scheduler_decisions": True,
    "leoflow_scheduler_leader": True,
    "leoflow_active_dag_runs": False,  # a gauge of "now": 0 once the run is over
    "leoflow_queued_tasks": False,
    "leoflow_scheduling_latency_seconds": True,  # extract's report → load's dispatch
    "leoflow_dispatch_queue_depth": False,
    "leoflow_dispatch_at_capacity": False,
    "leoflow_dispatch_latency_seconds": True,
    "leoflow_orphan_runs_reaped": False,
    "leoflow_agent_lost": False,
    "leoflow_dispatch_lost": False,
    # tasks
    "leoflow_task_state_transitions": True,
    "leoflow_task_duration_seconds": True,
    "leoflow_task_retries": False,
    "leoflow_task_cold_start_seconds": True,
    "leoflow_kubernetes_pod_create_duration_seconds": False,
    "leoflow_kubernetes_pod_pending_duration_seconds": False,
    "leoflow_kubernetes_pods_created": False,
    "leoflow_kubernetes_pods_running": False,
    "leoflow_kubernetes_api_calls": False,
    # XCom
    "leoflow_xcom_size_bytes": True,
    "leoflow_xcom_pushes": True,
    "leoflow_xcom_pulls": True,
    "leoflow_xcom_rejections": False,
    # API
    "leoflow_api_requests": True,
    "leoflow_api_request_duration_seconds": True,
    "leoflow_auth_failures": True,  # one wrong password, one anonymous call
    # process
    "process_cpu_seconds": True,
    "process_resident_memory_bytes": True,
    "python_gc_collections": True,
    "leoflow_embedded_database_up": False,  # this control plane uses an external database
}
"""Every metric family the issue names → whether this run must have made it non-zero."""

AGENT_PHASES = ("agent.fetch_xcom", "agent.execute_user_code", "agent.push_xcom")
CORRELATION = ("dag_id", "run_id", "task_id", "try_number")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """``leoflow server`` in a subprocess, its output collected line by line."""

    process: asyncio.subprocess.Process
    port: int
    metrics_port: int
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    readers: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "\n".join(self.stdout[-60:] + self.stderr[-60:])


async def _collect(stream: asyncio.StreamReader | None, into: list[str]) -> None:
    assert stream is not None
    async for raw in stream:
        into.append(raw.decode("utf-8", "replace").rstrip("\n"))


@contextlib.asynccontextmanager
async def running_server(
    database_url: str, home: Path, otlp_endpoint: str
) -> AsyncIterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEOFLOW_")}
    port, metrics_port = _free_port(), _free_port()
    env.update(
        {
            "HOME": str(home),
            "LEOFLOW_EDITION": "lite",
            "LEOFLOW_HOME": str(home / ".leoflow"),
            "LEOFLOW_DATABASE_URL": database_url,
            "LEOFLOW_JWT_SECRET": "observability-jwt-secret-0123456789abcdef",
            "LEOFLOW_ADMIN_USERNAME": "admin",
            "LEOFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LEOFLOW_OTLP_ENDPOINT": otlp_endpoint,
            "LEOFLOW_METRICS_PORT": str(metrics_port),
            "LEOFLOW_GRPC_HOST": "127.0.0.1",
            "LEOFLOW_GRPC_PORT": "0",
            "LEOFLOW_AGENT_ALLOW_INSECURE_SECRETS": "true",
            "LEOFLOW_SCHEDULER_TICK_SECONDS": "0.2",
            "LEOFLOW_AGENT_HEARTBEAT_INTERVAL_SECONDS": "1",
            "LEOFLOW_DAGS_ARE_PAUSED_AT_CREATION": "false",
        }
    )
    process = await asyncio.create_subprocess_exec(
        str(LEOFLOW),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-format",
        "json",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    server = Server(process, port, metrics_port)
    server.readers = [
        asyncio.create_task(_collect(process.stdout, server.stdout)),
        asyncio.create_task(_collect(process.stderr, server.stderr)),
    ]
    try:
        yield server
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 60)
            except TimeoutError:
                process.kill()
                await process.wait()
        await asyncio.gather(*server.readers, return_exceptions=True)


async def _wait_healthy(client: httpx.AsyncClient, server: Server) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.process.returncode is not None:
            pytest.fail(
                f"leoflow server exited with {server.process.returncode}:\n{server.output()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if (await client.get(f"{server.url}/healthz")).status_code == 200:
                return
        await asyncio.sleep(0.2)
    pytest.fail(f"leoflow server did not answer in time:\n{server.output()}")


async def _run_dag(client: httpx.AsyncClient, server: Server, spec: dict[str, Any]) -> str:
    """Push the DAG, trigger it through the API, wait for success; returns the run id."""
    refused = await client.post(
        f"{server.url}/auth/token", json={"username": "admin", "password": "wrong"}
    )
    assert refused.status_code == 401
    assert (await client.get(f"{server.url}/api/v2/dags")).status_code == 401
    login = await client.post(
        f"{server.url}/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 201, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    pushed = await client.post(
        f"{server.url}/api/v2/dags/{DAG_ID}/versions", json=spec, headers=headers
    )
    assert pushed.status_code in (200, 201), pushed.text
    triggered = await client.post(
        f"{server.url}/api/v2/dags/{DAG_ID}/dagRuns",
        json={"logical_date": None},
        headers=headers,
    )
    assert triggered.status_code == 200, triggered.text
    run_id = str(triggered.json()["dag_run_id"])
    deadline = time.monotonic() + 240  # includes building the DAG's virtualenv once
    while time.monotonic() < deadline:
        answer = await client.get(
            f"{server.url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", headers=headers
        )
        state = answer.json()["state"]
        if state in ("success", "failed"):
            assert state == "success", server.output()
            return run_id
        await asyncio.sleep(0.3)
    pytest.fail(f"the run did not finish in time:\n{server.output()}")


def _families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _total(family: Any) -> float:
    """The sum of a family's counts (histograms: observations; others: values)."""
    if family.type in ("histogram", "summary"):
        return sum(s.value for s in family.samples if s.name.endswith("_count"))
    return sum(s.value for s in family.samples if not s.name.endswith("_created"))


def check_metrics(text: str) -> None:
    families = _families(text)
    missing = sorted(name for name in ISSUE_METRICS if name not in families)
    assert not missing, f"metrics missing from /metrics: {missing}"
    for name, exercised in ISSUE_METRICS.items():
        family = families[name]
        assert family.documentation, f"{name} has no help text"
        if exercised:
            assert _total(family) > 0, f"{name} was exercised by the run but is zero"
    leader = [s.value for s in families["leoflow_scheduler_leader"].samples]
    assert leader == [1.0]
    reasons = {s.labels["reason"] for s in families["leoflow_auth_failures"].samples}
    assert {"bad_credentials", "not_authenticated"} <= reasons
    routes = {s.labels["route"] for s in families["leoflow_api_requests"].samples}
    assert "/api/v2/dags/{dag_id}/dagRuns" in routes  # templates, never raw paths
    durations = {
        (s.labels["dag_id"], s.labels["task_id"], s.labels["task_type"])
        for s in families["leoflow_task_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert {(DAG_ID, "extract", "python"), (DAG_ID, "load", "python")} <= durations


def check_trace(spans: list[ReceivedSpan], run_id: str) -> str:
    """The spans of ``load``'s try form one trace; returns its trace id."""
    roots = [
        s
        for s in spans
        if s.name == "task_instance.try" and s.attributes.get("leoflow.task_id") == "load"
    ]
    assert len(roots) == 1, [s.attributes for s in roots]
    root = roots[0]
    assert root.parent_span_id == ""
    assert root.attributes["leoflow.dag_id"] == DAG_ID
    assert root.attributes["leoflow.run_id"] == run_id
    assert root.attributes["leoflow.try_number"] == 1
    assert root.attributes["leoflow.state"] == "success"
    assert root.service == "leoflow"

    trace = [s for s in spans if s.trace_id == root.trace_id]
    by_id = {s.span_id: s for s in trace}
    assert len(by_id) == len(trace), "span ids are unique within the trace"
    by_name: dict[str, list[ReceivedSpan]] = {}
    for span in trace:
        by_name.setdefault(span.name, []).append(span)

    for name in ("scheduler.decision", "executor.submit", *AGENT_PHASES):
        assert len(by_name.get(name, [])) == 1, f"{name}: {sorted(by_name)}"
        assert by_name[name][0].parent_span_id == root.span_id, f"{name} is not under the root"
    assert by_name["executor.submit"][0].attributes["leoflow.executor"] == "subprocess"
    assert by_name["scheduler.decision"][0].attributes["leoflow.task_id"] == "load"
    for name in AGENT_PHASES:
        phase = by_name[name][0]
        assert phase.service == "leoflow-agent"
        assert phase.attributes["leoflow.task_id"] == "load"
        assert phase.attributes["leoflow.try_number"] == 1
        assert phase.start_ns <= phase.end_ns
    assert by_name["agent.execute_user_code"][0].attributes["process.exit_code"] == "0"

    # gRPC server spans of the agent's calls, under the phase (or root) that made them.
    rpc = {s.name.rsplit("/", 1)[-1]: s for s in trace if "AgentService/" in s.name}
    for method in ("Register", "GetTaskSpec", "FetchXCom", "PushXCom", "ReportState"):
        assert method in rpc, f"no server span for {method}: {sorted(by_name)}"
        assert rpc[method].attributes.get("leoflow.task_id") == "load"
    assert rpc["FetchXCom"].parent_span_id == by_name["agent.fetch_xcom"][0].span_id
    assert rpc["PushXCom"].parent_span_id == by_name["agent.push_xcom"][0].span_id
    assert rpc["Register"].parent_span_id == root.span_id
    # Every span of the trace hangs off a span of the same trace: one connected tree.
    for span in trace:
        if span is not root:
            assert span.parent_span_id in by_id, f"{span.name} has a parent outside the trace"
    return root.trace_id


def check_logs(lines: list[str], trace_ids: dict[str, str]) -> None:
    """Every stdout line is JSON; lines about a try carry its correlation fields."""
    assert lines, "the control plane wrote nothing on stdout"
    agent_lines: dict[str, int] = {}
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        for key in ("event", "level", "timestamp"):
            assert key in record, f"{key} missing: {line}"
        if "task_id" in record:
            for key in CORRELATION:
                assert key in record, f"{key} missing from a line about a try: {line}"
        if record.get("logger") == "leoflow.agent":
            for key in (*CORRELATION, "tenant", "trace_id", "span_id"):
                assert key in record, f"{key} missing from an agent line: {line}"
            assert record["trace_id"] == trace_ids[record["task_id"]], line
            agent_lines[record["task_id"]] = agent_lines.get(record["task_id"], 0) + 1
        if record.get("event") in ("task running", "task finished") and record["dag_id"] == DAG_ID:
            assert record["trace_id"] == trace_ids[record["task_id"]], line
    assert set(agent_lines) == {"extract", "load"}, "each agent's own lines reach the log"


async def test_a_run_is_measured_traced_and_logged(database_url: str, tmp_path: Path) -> None:
    project = tmp_path / "projects" / DAG_ID
    project.mkdir(parents=True)
    (project / "dag.py").write_text(textwrap.dedent(DAG), encoding="utf-8")
    spec = (await asyncio.to_thread(compile_project, project)).spec
    document = spec.model_dump(mode="json", exclude_none=True)

    receiver = OtlpReceiver()
    await receiver.start()
    try:
        async with (
            running_server(database_url, tmp_path, receiver.endpoint) as server,
            httpx.AsyncClient(timeout=30) as client,
        ):
            await _wait_healthy(client, server)
            run_id = await _run_dag(client, server, document)

            metrics = await client.get(f"{server.url}/metrics")
            assert metrics.status_code == 200
            check_metrics(metrics.text)
            dedicated = await client.get(f"http://127.0.0.1:{server.metrics_port}/metrics")
            assert dedicated.status_code == 200
            assert "leoflow_task_duration_seconds" in dedicated.text

            def complete(spans: list[ReceivedSpan]) -> bool:
                names = {(s.name, s.attributes.get("leoflow.task_id")) for s in spans}
                return all(
                    (name, task) in names
                    for task in ("extract", "load")
                    for name in ("task_instance.try", *AGENT_PHASES[1:])
                )

            spans = await receiver.wait_for(complete)
        trace_ids = {"load": check_trace(spans, run_id)}
        extract_root = next(
            s
            for s in spans
            if s.name == "task_instance.try" and s.attributes.get("leoflow.task_id") == "extract"
        )
        trace_ids["extract"] = extract_root.trace_id
        assert trace_ids["extract"] != trace_ids["load"], "one trace per try"
        assert server.process.returncode == 0, server.output()
        check_logs([line for line in server.stdout if line.strip()], trace_ids)
        stray = [line for line in server.stderr if line.strip()]
        assert not stray, f"the control plane wrote on stderr: {stray[:5]}"
    finally:
        await receiver.stop()
