"""Builders of realistic rows for tests: a DAG with a version, a run with its task instances."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from leoflow.store.dag_runs import DagRun, RunType, create_dag_run
from leoflow.store.dag_versions import DagVersion, register_dag_version
from leoflow.store.pool import Database
from leoflow.store.task_instances import TaskInstance, create_task_instances
from leoflow.store.tenants import get_default_tenant_id


def spec_for(
    dag_id: str, tasks: tuple[str, ...] = ("extract", "load"), **extra: Any
) -> dict[str, Any]:
    """A small ``dag.json``-shaped spec."""
    return {
        "schema_version": "1.0",
        "dag_id": dag_id,
        "tasks": [{"task_id": t, "type": "python"} for t in tasks],
        **extra,
    }


def spec_hash(spec: dict[str, Any]) -> str:
    """The canonical hash of a spec (sorted keys, compact separators)."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RunFixture:
    """A DAG version, one run of it, and the run's task instances."""

    tenant_id: UUID
    version: DagVersion
    run: DagRun
    task_instances: dict[str, TaskInstance]


async def make_version(
    db: Database, dag_id: str = "example", tasks: tuple[str, ...] = ("extract", "load")
) -> tuple[UUID, DagVersion]:
    """Register a version of ``dag_id`` in the default tenant."""
    tenant_id = await get_default_tenant_id(db)
    spec = spec_for(dag_id, tasks)
    version, _ = await register_dag_version(db, tenant_id, dag_id, spec, spec_hash(spec))
    return tenant_id, version


async def make_run(
    db: Database,
    *,
    dag_id: str = "example",
    run_id: str = "manual__2025-01-01T00:00:00+00:00",
    tasks: tuple[str, ...] = ("extract", "load"),
    max_tries: dict[str, int] | None = None,
) -> RunFixture:
    """A queued manual run of a fresh DAG version with its task instances (state ``none``)."""
    tenant_id, version = await make_version(db, dag_id, tasks)
    run, _ = await create_dag_run(
        db,
        dag_uuid=version.dag_uuid,
        run_id=run_id,
        dag_version_id=version.id,
        run_type=RunType.MANUAL,
        triggered_by="test",
    )
    tis = await create_task_instances(db, run.id, tasks, max_tries)
    return RunFixture(tenant_id, version, run, {ti.task_id: ti for ti in tis})
