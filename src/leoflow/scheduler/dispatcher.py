"""Choosing and claiming ``scheduled`` task instances, and offering them to the dispatch pool.

Claiming (``scheduled → queued``) is one guarded statement per batch, so no try is claimed
twice, even by two leaders in a hand-over. How a batch is chosen depends on what must be
checked between choosing and claiming:

* when no running run belongs to a DAG version with ``max_active_tasks``, the oldest
  candidates are chosen and claimed in the same statement (one round trip);
* otherwise candidates are read first, the per-DAG limits applied to them, and the chosen ones
  claimed (two or three round trips).

An event pass skips the work entirely when nothing can be waiting: this scheduler knows when it
moves a task instance to ``scheduled``, and a full pass always looks (another writer, or a
leader before this one, may have scheduled something).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from leoflow.executors.base import TaskLaunch
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.dispatch_pool import DispatchPool
from leoflow.scheduler.state_reports import TaskReporter
from leoflow.store.pool import Pool
from leoflow.store.scheduling import (
    DispatchCandidate,
    claim_for_dispatch,
    claim_oldest_scheduled,
    count_active_task_instances,
    list_dispatch_candidates,
)
from leoflow.telemetry import get_logger, get_tracer
from leoflow.telemetry.metrics import (
    DISPATCH_AT_CAPACITY,
    SCHEDULER_DECISIONS,
    SCHEDULING_LATENCY,
    TASK_STATE_TRANSITIONS,
)
from leoflow.telemetry.tracing import traceparent, try_context

log = get_logger(__name__)
tracer = get_tracer(__name__)

LaunchFailed = Callable[[TaskLaunch, BaseException], Awaitable[None]]


class Dispatcher:
    """Hands ``scheduled`` task instances to the dispatch pool, as many as it has room for."""

    def __init__(
        self,
        pool: Pool,
        catalog: DagCatalog,
        dispatch: DispatchPool,
        reporter: TaskReporter,
        *,
        scheduler_id: str,
        on_error: LaunchFailed,
    ) -> None:
        self._pool = pool
        self._catalog = catalog
        self._dispatch = dispatch
        self._reporter = reporter
        self._scheduler_id = scheduler_id
        self._on_error = on_error
        self.pending = True
        """Whether ``scheduled`` task instances may be waiting (see the module docstring)."""
        self._running_versions: set[UUID] = set()
        self._limited: dict[UUID, bool] = {}

    def note_scheduled(self) -> None:
        """A task instance was moved to ``scheduled``: look at the next dispatch."""
        self.pending = True

    def note_running_versions(self, versions: Iterable[UUID], *, every: bool = False) -> None:
        """DAG versions of running runs: all of them (``every``, from a full pass) or more."""
        if every:
            self._running_versions = set(versions)
        else:
            self._running_versions.update(versions)

    async def dispatch(self, *, full: bool) -> None:
        """Claim what the pool has room for and offer it (see the module docstring)."""
        if full:
            self.pending = True
        if not self.pending:
            return
        free = self._dispatch.free_slots()
        if free == 0:  # whatever is scheduled stays so until the pool has room
            DISPATCH_AT_CAPACITY.inc()
            return
        decided_ns = time.time_ns()
        if await self._any_limited():
            chosen = await self._claim_within_limits(free)
        else:
            chosen = await claim_oldest_scheduled(self._pool, free, self._scheduler_id)
            self.pending = len(chosen) >= free
        for cand in chosen:
            await self._offer(cand, decided_ns)

    async def _any_limited(self) -> bool:
        """Whether a running run's DAG version caps its active tasks (``max_active_tasks``)."""
        for version in self._running_versions:
            limited = self._limited.get(version)
            if limited is None:
                try:
                    spec = (await self._catalog.get(version)).spec
                except LookupError:  # a version gone with its DAG: nothing of it runs
                    continue
                limited = self._limited[version] = spec.max_active_tasks is not None
            if limited:
                return True
        return False

    async def _claim_within_limits(self, free: int) -> list[DispatchCandidate]:
        limit = free * 2
        candidates = await list_dispatch_candidates(self._pool, limit)
        if not candidates:
            self.pending = False
            return []
        chosen = await self._within_task_limits(candidates, free)
        self.pending = len(candidates) >= limit or len(chosen) < len(candidates)
        claimed = await claim_for_dispatch(
            self._pool, [(c.id, c.try_number) for c in chosen], self._scheduler_id
        )
        return [cand for cand in chosen if cand.id in claimed]

    async def _within_task_limits(
        self, candidates: list[DispatchCandidate], free: int
    ) -> list[DispatchCandidate]:
        """Keep ``max_active_tasks`` per DAG; the rest stay scheduled for a later pass."""
        limits = {
            cand.dag_version_id: (
                await self._catalog.get(cand.dag_version_id)
            ).spec.max_active_tasks
            for cand in candidates
        }
        limited = list({c.dag_uuid for c in candidates if limits[c.dag_version_id] is not None})
        # Counting costs a round trip on the path of every dispatch: only for DAGs with a limit.
        active = await count_active_task_instances(self._pool, limited) if limited else {}
        chosen: list[DispatchCandidate] = []
        for cand in candidates:
            if len(chosen) >= free:
                break
            limit = limits[cand.dag_version_id]
            if limit is not None and active.get(cand.dag_uuid, 0) >= limit:
                continue
            active[cand.dag_uuid] = active.get(cand.dag_uuid, 0) + 1
            chosen.append(cand)
        return chosen

    async def _offer(self, cand: DispatchCandidate, decided_ns: int) -> None:
        compiled = await self._catalog.get(cand.dag_version_id)
        task_type = compiled.tasks[cand.task_id].type.value
        # The try's trace starts here: the decision is the first span under its root.
        with tracer.start_as_current_span(
            "scheduler.decision",
            context=try_context(cand.id, cand.try_number),
            start_time=decided_ns,
            attributes={
                "leoflow.decision": "dispatch",
                "leoflow.dag_id": cand.dag_id,
                "leoflow.task_id": cand.task_id,
                "leoflow.run_id": cand.run_id,
                "leoflow.try_number": cand.try_number,
                "leoflow.task_type": task_type,
                "leoflow.scheduler_id": self._scheduler_id,
            },
        ):
            launch = TaskLaunch(
                ti_id=cand.id,
                run_uuid=cand.run_uuid,
                dag_id=cand.dag_id,
                run_id=cand.run_id,
                task_id=cand.task_id,
                map_index=cand.map_index,
                try_number=cand.try_number,
                task_type=task_type,
                dag_version_id=cand.dag_version_id,
                logical_date=cand.logical_date,
                task_spec=compiled.task_payload(cand.task_id),
                traceparent=traceparent(cand.id, cand.try_number),
            )
            TASK_STATE_TRANSITIONS.labels("scheduled", "queued").inc()
            SCHEDULER_DECISIONS.labels("dispatch").inc()
            reported = self._reporter.last_terminal_report.pop(cand.run_uuid, None)
            if reported is not None:
                SCHEDULING_LATENCY.observe(time.perf_counter() - reported)
            log.info(
                "task queued",
                dag_id=cand.dag_id,
                run_id=cand.run_id,
                task_id=cand.task_id,
                try_number=cand.try_number,
            )
            offered = self._dispatch.offer(launch)
        if not offered:  # cannot happen: we claimed <= free slots
            await self._on_error(launch, RuntimeError("dispatch queue full"))
