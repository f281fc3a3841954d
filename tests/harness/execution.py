"""Helpers for execution-path tests: DAGs and runs in a real database, and a real AgentService
served by grpc.aio on a loopback port with a real asyncio client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import grpc

from leoflow.agentapi.server import AgentServer
from leoflow.agentapi.service import AgentService
from leoflow.auth.tokens import mint_agent_token
from leoflow.config import Settings, load_settings
from leoflow.logs import FileLogStorage, MemoryLogTail, TaskLogs
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.secrets import SecretCipher
from leoflow.spec import dag_spec_from_data, spec_hash
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import DagRun, RunType, create_dag_run
from leoflow.store.dag_versions import register_dag_version
from leoflow.store.dags import set_dag_paused
from leoflow.store.pool import Pool
from leoflow.store.task_instances import (
    TaskInstance,
    create_task_instances,
    transition_task_instance,
)
from leoflow.store.tenants import get_default_tenant_id
from leoflow.xcom import PostgresXComBackend, XComPolicy, XComService
from leoflow_sdk.protocol import agent_pb2, agent_pb2_grpc, bearer_metadata

SECRET = "test-signing-secret-0123456789abcdef"
RUN_ID = "manual__2025-01-01T00:00:00+00:00"


def task(task_id: str, *upstream: str, kind: str = "python", **extra: Any) -> dict[str, Any]:
    """A dag.json task (python by default)."""
    data: dict[str, Any] = {"task_id": task_id, "type": kind, "depends_on": list(upstream)}
    if kind == "python":
        data["entrypoint"] = f"dag:{task_id}"
    data.update(extra)
    return data


def dag_json(dag_id: str, tasks: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """A valid dag.json document."""
    data = {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "source": "# test DAG\n",
        "source_module": "dag",
        "tasks": tasks,
        **extra,
    }
    dag_spec_from_data(data)
    return data


@dataclass
class RunHandle:
    """A registered DAG version, one running run of it and its task instances."""

    dag_uuid: UUID
    version_id: UUID
    run: DagRun
    tis: dict[str, TaskInstance]


async def register(pool: Pool, data: dict[str, Any], *, paused: bool = False) -> tuple[UUID, UUID]:
    """Register a version; returns (dag uuid, version id)."""
    tenant = await get_default_tenant_id(pool)
    spec = dag_spec_from_data(data)
    version, _ = await register_dag_version(pool, tenant, spec.dag_id, data, spec_hash(spec))
    await set_dag_paused(pool, tenant, spec.dag_id, paused)
    return version.dag_uuid, version.id


async def running_run(
    pool: Pool,
    data: dict[str, Any],
    *,
    run_id: str = RUN_ID,
    conf: dict[str, Any] | None = None,
    logical_date: datetime | None = None,
    max_tries: dict[str, int] | None = None,
) -> RunHandle:
    """A running manual run of ``data`` with its task instances (state none)."""
    dag_uuid, version_id = await register(pool, data)
    run, _ = await create_dag_run(
        pool,
        dag_uuid=dag_uuid,
        run_id=run_id,
        dag_version_id=version_id,
        run_type=RunType.MANUAL,
        logical_date=logical_date,
        conf=conf,
        state=RunState.RUNNING,
    )
    tis = await create_task_instances(
        pool, run.id, [t["task_id"] for t in data["tasks"]], max_tries
    )
    return RunHandle(dag_uuid, version_id, run, {ti.task_id: ti for ti in tis})


_PATH = {
    TaskState.SCHEDULED: (TaskState.SCHEDULED,),
    TaskState.QUEUED: (TaskState.SCHEDULED, TaskState.QUEUED),
    TaskState.RUNNING: (TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING),
    TaskState.SUCCESS: (
        TaskState.SCHEDULED,
        TaskState.QUEUED,
        TaskState.RUNNING,
        TaskState.SUCCESS,
    ),
}


async def advance(pool: Pool, ti_id: UUID, to: TaskState, try_number: int = 1) -> None:
    """Walk a task instance from ``none`` to ``to`` through legal system moves."""
    for state in _PATH[to]:
        result = await transition_task_instance(pool, ti_id, state, try_number=try_number)
        assert result.applied, (state, result)


@dataclass
class AgentHarness:
    """A served AgentService and a client stub on it."""

    pool: Pool
    settings: Settings
    service: AgentService
    server: AgentServer
    stub: agent_pb2_grpc.AgentServiceStub
    reporter: TaskReporter
    xcom: XComService
    logs: TaskLogs
    woken: list[UUID] = field(default_factory=list)

    @staticmethod
    def token(
        dag_id: str,
        task_id: str,
        *,
        try_number: int = 1,
        run_id: str = RUN_ID,
        tenant: str = "default",
        expires_in: int = 3600,
        secret: str = SECRET,
    ) -> str:
        return mint_agent_token(
            secret,
            tenant=tenant,
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            try_number=try_number,
            expires_in=expires_in,
        )

    @staticmethod
    def key(
        dag_id: str, task_id: str, *, try_number: int = 1, run_id: str = RUN_ID
    ) -> agent_pb2.TaskInstanceKey:
        return agent_pb2.TaskInstanceKey(
            tenant="default",
            dag_id=dag_id,
            run_id=run_id,
            task_id=task_id,
            map_index=-1,
            try_number=try_number,
        )

    def auth(self, dag_id: str, task_id: str, *, try_number: int = 1) -> dict[str, Any]:
        """``key`` and ``metadata`` keyword arguments for one task's calls."""
        token = self.token(dag_id, task_id, try_number=try_number)
        return {
            "key": self.key(dag_id, task_id, try_number=try_number),
            "metadata": bearer_metadata(token),
        }


def execution_settings(database_url: str, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "home": home,
        "grpc_host": "127.0.0.1",
        "grpc_port": 0,
        "agent_heartbeat_interval_seconds": 1.0,
        "subprocess_kill_grace_seconds": 2.0,
    }
    values.update(overrides)
    return load_settings(**values)


@contextlib.asynccontextmanager
async def agent_harness(
    pool: Pool,
    settings: Settings,
    *,
    xcom: XComService | None = None,
    timeout_grace_seconds: float | None = None,
    cipher: SecretCipher | None = None,
    staging_root: Path | None = None,
) -> AsyncIterator[AgentHarness]:
    """An AgentService on a loopback port (TLS when the settings say so) and a client."""
    catalog = DagCatalog(pool, settings.task_defaults)
    woken: list[UUID] = []
    reporter = TaskReporter(pool, catalog, woken.append)
    xcom = xcom or XComService(PostgresXComBackend(pool), XComPolicy(max_size_bytes=1024))
    logs = TaskLogs(FileLogStorage(Path(settings.home) / "logs"), MemoryLogTail())
    service = AgentService(
        db=pool,
        settings=settings,
        jwt_secret=SECRET,
        xcom=xcom,
        logs=logs,
        reporter=reporter,
        catalog=catalog,
        timeout_grace_seconds=timeout_grace_seconds,
        cipher=cipher,
        staging_root=staging_root,
    )
    server = AgentServer(service, settings)
    endpoint = await server.start()
    if endpoint.tls and endpoint.tls_ca_file is not None:
        credentials = grpc.ssl_channel_credentials(endpoint.tls_ca_file.read_bytes())
        channel = grpc.aio.secure_channel(
            endpoint.address,
            credentials,
            options=[("grpc.ssl_target_name_override", "localhost")],
        )
    else:
        channel = grpc.aio.insecure_channel(endpoint.address)
    try:
        async with channel:
            yield AgentHarness(
                pool=pool,
                settings=settings,
                service=service,
                server=server,
                stub=agent_pb2_grpc.AgentServiceStub(channel),
                reporter=reporter,
                xcom=xcom,
                logs=logs,
                woken=woken,
            )
    finally:
        await server.stop(grace=None)
