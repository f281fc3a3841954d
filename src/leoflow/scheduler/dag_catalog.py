"""Compiled DAG versions as the scheduler needs them, cached for the life of the process.

A DAG version is immutable, so its parsed spec, task graph and per-task retry policies are
computed once per version and never invalidated. Settings passed in are the *platform*
defaults: they fill gaps at dispatch time and are never written back into the artifact.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

from leoflow.config import TaskDefaults
from leoflow.scheduler.planner import DagGraph, TaskNode
from leoflow.scheduler.retries import RetryPolicy
from leoflow.spec import DagSpec, TaskSpec, dag_spec_from_data
from leoflow.store.pool import Database
from leoflow.store.scheduling import load_version_spec

_T = TypeVar("_T")


@dataclass(frozen=True)
class CompiledDag:
    """One DAG version: its spec, graph, and effective per-task settings."""

    version_id: UUID
    spec: DagSpec
    graph: DagGraph
    platform: TaskDefaults
    tasks: dict[str, TaskSpec] = field(default_factory=dict)

    @classmethod
    def build(cls, version_id: UUID, spec: DagSpec, platform: TaskDefaults) -> CompiledDag:
        nodes = [
            TaskNode(
                task_id=task.task_id,
                task_type=task.type.value,
                upstream=tuple(task.depends_on),
                trigger_rule=task.trigger_rule,
            )
            for task in spec.tasks
        ]
        return cls(
            version_id=version_id,
            spec=spec,
            graph=DagGraph.build(nodes),
            platform=platform,
            tasks={task.task_id: task for task in spec.tasks},
        )

    def retry_policy(self, task_id: str) -> RetryPolicy:
        """Task value > DAG ``default_args`` > platform default, for each retry setting."""
        task = self.tasks[task_id]
        defaults = self.spec.default_args
        retries = _first(task.retries, defaults.retries, self.platform.retries)
        delay = _first(
            task.retry_delay_seconds,
            defaults.retry_delay_seconds,
            self.platform.retry_delay_seconds,
        )
        backoff = _first(
            getattr(task, "retry_exponential_backoff", None),
            defaults.retry_exponential_backoff,
            False,
        )
        return RetryPolicy(
            retries=int(retries), retry_delay_seconds=float(delay), exponential_backoff=backoff
        )

    def execution_timeout(self, task_id: str) -> float | None:
        """Task value > DAG ``default_args`` > platform default (``None`` = no limit)."""
        task = self.tasks[task_id]
        return _first_optional(
            task.execution_timeout_seconds,
            self.spec.default_args.execution_timeout_seconds,
            self.platform.execution_timeout_seconds,
        )

    def max_tries(self) -> dict[str, int]:
        """Retries per task, as stored on task instances (Airflow's ``max_tries``)."""
        return {tid: self.retry_policy(tid).retries for tid in self.tasks}

    def task_payload(self, task_id: str) -> dict[str, Any]:
        """The task's dag.json entry, handed to the executor with the launch."""
        payload: dict[str, Any] = self.tasks[task_id].model_dump(mode="json", exclude_none=True)
        return payload


def _first(*values: _T | None) -> _T:
    for value in values:
        if value is not None:
            return value
    raise ValueError("no value and no default")


def _first_optional(*values: _T | None) -> _T | None:
    return next((v for v in values if v is not None), None)


class DagCatalog:
    """Loads and caches ``CompiledDag`` objects by version id."""

    def __init__(self, db: Database, platform: TaskDefaults | None = None) -> None:
        self._db = db
        self._platform = platform or TaskDefaults()
        self._cache: dict[UUID, CompiledDag] = {}
        self._lock = asyncio.Lock()

    async def get(self, version_id: UUID) -> CompiledDag:
        """The compiled DAG of ``version_id`` (read from the database once)."""
        cached = self._cache.get(version_id)
        if cached is not None:
            return cached
        async with self._lock:
            cached = self._cache.get(version_id)
            if cached is None:
                data = await load_version_spec(self._db, version_id)
                cached = CompiledDag.build(version_id, dag_spec_from_data(data), self._platform)
                self._cache[version_id] = cached
        return cached
