"""Helpers of the Kubernetes executor tests: settings and an executor on the stand-in.

The executor under test is the real one, with a real PostgreSQL, real task logs and a real
TaskReporter; only the Kubernetes API server is a stand-in (see ``kube_standin.py``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from kube_standin import StandInApiServer

from harness.execution import SECRET, RunHandle, advance, running_run
from leoflow.agentapi.tokens import AgentTokenIssuer
from leoflow.config import Settings, load_settings
from leoflow.executors.base import TaskLaunch
from leoflow.executors.kubernetes import KubernetesExecutor
from leoflow.logs import FileLogStorage, MemoryLogTail, TaskLogs, TryLogRef
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.states import TaskState
from leoflow.store.pool import Pool

NAMESPACE = "tasks"
IMAGE = "registry.example/leoflow/dags/etl:1.0"


def k8s_settings(database_url: str, home: Path, api_url: str, **kubernetes: Any) -> Settings:
    values: dict[str, Any] = {
        "namespace": NAMESPACE,
        "api_url": api_url,
        "agent_address": "leoflow-grpc.leoflow.svc:50051",
        "agent_tls_secret": "leoflow-agent-tls",
        "api_retries": 3,
        "unschedulable_timeout_seconds": 30,
        "report_grace_seconds": 0.3,
        "reconcile_interval_seconds": 3600,
        "gc_delay_seconds": 60,
        "orphan_grace_seconds": 60,
    }
    values.update(kubernetes)
    return load_settings(
        database_url=database_url,
        home=home,
        edition="pro",
        agent_tls_cert_file=None,
        kubernetes=values,
    )


@dataclass
class K8sHarness:
    """The executor, the stand-in it talks to, and what a test needs to make launches."""

    pool: Pool
    standin: StandInApiServer
    executor: KubernetesExecutor
    logs: TaskLogs
    reporter: TaskReporter
    woken: list[UUID] = field(default_factory=list)
    dag_ids: dict[UUID, str] = field(default_factory=dict)

    async def queued_run(self, data: dict[str, Any], **kwargs: Any) -> RunHandle:
        handle = await running_run(self.pool, data, **kwargs)
        self.dag_ids[handle.run.id] = data["dag_id"]
        for ti in handle.tis.values():
            await advance(self.pool, ti.id, TaskState.QUEUED)
        return handle

    def launch(
        self, handle: RunHandle, task_id: str, try_number: int = 1, task_type: str = "python"
    ) -> TaskLaunch:
        ti = handle.tis[task_id]
        return TaskLaunch(
            ti_id=ti.id,
            run_uuid=handle.run.id,
            dag_id=self.dag_ids[handle.run.id],
            run_id=handle.run.run_id,
            task_id=task_id,
            map_index=-1,
            try_number=try_number,
            task_type=task_type,
            dag_version_id=handle.version_id,
            logical_date=None,
        )

    async def log_text(self, dag_id: str, task_id: str, run_id: str, try_number: int = 1) -> str:
        ref = TryLogRef("default", dag_id, run_id, task_id, try_number)
        return await self.logs.read_text(ref)


def make_harness(pool: Pool, settings: Settings, standin: StandInApiServer) -> Any:
    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[K8sHarness]:
        catalog = DagCatalog(pool, settings.task_defaults)
        woken: list[UUID] = []
        reporter = TaskReporter(pool, catalog, woken.append)
        logs = TaskLogs(FileLogStorage(Path(settings.home) / "logs"), MemoryLogTail())
        tokens = AgentTokenIssuer(SECRET, pool)
        executor = KubernetesExecutor(
            reporter=reporter,
            db=pool,
            settings=settings,
            tokens=tokens,
            logs=logs,
            catalog=catalog,
        )
        try:
            yield K8sHarness(pool, standin, executor, logs, reporter, woken)
        finally:
            await executor.close()

    return build()
