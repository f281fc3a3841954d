"""The scheduler process: leadership, the event-driven loop, dispatch and the reapers.

Only the leader schedules. A pass reads the database (the only truth), asks the pure planner
what should happen, and applies the answer with guarded writes. Passes are triggered by events
(a state report marks its run dirty) and by a periodic tick (1 s) that also creates scheduled
runs, starts queued runs and runs the reapers. Nothing the loop keeps in memory is needed after
a restart: the DAG catalog is a cache of immutable versions, the rest is re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from leoflow.config import Settings
from leoflow.executors.base import Executor, TaskLaunch
from leoflow.scheduler.dag_catalog import CompiledDag, DagCatalog
from leoflow.scheduler.dispatch_pool import DispatchPool
from leoflow.scheduler.dispatcher import Dispatcher
from leoflow.scheduler.incremental import PartialPlan, admissible_moves, plan_partially
from leoflow.scheduler.planner import Move, MoveKind, TaskInstanceView, plan_run
from leoflow.scheduler.retries import failure_outcome
from leoflow.scheduler.run_outcome import RunVerdict
from leoflow.scheduler.state_reports import TaskReporter, observe_transition
from leoflow.scheduler.timetables import (
    CronTimetable,
    DeltaTimetable,
    RunSlot,
    ScheduleRestriction,
    Timetable,
    due_runs,
    next_once_run,
)
from leoflow.scheduler.wakeup import SchedulerWakeup
from leoflow.spec import IntervalSchedule
from leoflow.states import RunState, TaskState
from leoflow.store.dag_runs import RunType, create_dag_run, transition_dag_run
from leoflow.store.leadership import LeaderLease
from leoflow.store.pool import Pool
from leoflow.store.scheduling import (
    ActiveRun,
    LostDispatch,
    PlannedMove,
    SchedulableDag,
    TaskInstanceState,
    apply_moves,
    count_running_runs,
    list_active_runs,
    list_lost_dispatches,
    list_run_fingerprints,
    list_schedulable_dags,
    list_stale_running,
    list_task_instance_states,
    record_scheduler_heartbeat,
)
from leoflow.store.task_instances import (
    create_task_instances,
    get_task_instance,
    start_next_try,
    transition_task_instance,
)
from leoflow.store.wakeups import SCHEDULER_CHANNEL, Listener, notify
from leoflow.telemetry import get_logger, get_tracer
from leoflow.telemetry.metrics import (
    ACTIVE_DAG_RUNS,
    AGENT_LOST,
    DISPATCH_LOST,
    ORPHAN_RUNS_REAPED,
    QUEUED_TASKS,
    SCHEDULER_DECISIONS,
    SCHEDULER_LEADER,
    SCHEDULER_LOOP_DURATION,
    SCHEDULER_PASS_ERRORS,
    TASK_STATE_TRANSITIONS,
)
from leoflow.telemetry.tries import TryRef

log = get_logger(__name__)
tracer = get_tracer(__name__)

MAX_SCHEDULED_RUNS_PER_PASS = 100
"""Catch-up creates at most this many runs per DAG and pass (the next pass continues)."""

MAX_REDISPATCHES = 1
"""A queued try that never started is dispatched again this many times, then failed."""

FULL_RUN = "*"
"""``NOTIFY`` payload asking the leader for a full pass."""

PARTIAL_PLAN_MIN_TASKS = 50
"""Runs with at least this many tasks are planned from their changed tasks in event passes;
smaller ones cost no more to read whole (one read serves every such run of the pass)."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _RunPlanResult:
    run: ActiveRun
    moves: list[Move]
    retries: list[Move]
    verdict: RunVerdict
    ids: Mapping[str, UUID]
    """Task id → task instance id (at least for the tasks that move)."""


class Scheduler:
    """One scheduler replica. Call :meth:`run` to contend for leadership and schedule."""

    def __init__(
        self,
        pool: Pool,
        dsn: str,
        executor_factory: Callable[[TaskReporter], Executor],
        settings: Settings,
        *,
        scheduler_id: str | None = None,
        clock: Callable[[], datetime] = _now,
        notify_peers: bool = False,
        partial_plan_min_tasks: int | None = PARTIAL_PLAN_MIN_TASKS,
    ) -> None:
        """``partial_plan_min_tasks``: runs of at least this many tasks are planned from their
        changed tasks in event passes (:mod:`leoflow.scheduler.incremental`); ``None`` plans
        every dirty run from all of its task instances (the reference behaviour the partial
        path is tested against)."""
        self._pool = pool
        self._dsn = dsn
        self._settings = settings
        self._clock = clock
        self._notify_peers = notify_peers
        self.scheduler_id = (
            scheduler_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        )
        self.wakeup = SchedulerWakeup()
        self.catalog = DagCatalog(pool, settings.task_defaults)
        self._partial_plan_min_tasks = partial_plan_min_tasks
        self.reporter = TaskReporter(
            pool, self.catalog, self.wake_run, clock, wake_task=self.wake_task
        )
        self.executor = executor_factory(self.reporter)
        self._dispatch = DispatchPool(
            self.executor,
            self._on_dispatch_error,
            queue_size=settings.dispatch_queue_size,
            workers=settings.dispatch_workers,
        )
        self._stopping = asyncio.Event()
        self._leader_since: float | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._stable_runs: dict[UUID, tuple[object, ...]] = {}
        self._active_runs: dict[UUID, ActiveRun] = {}
        """Running runs as last read (a cache: a partial plan checks its run is unchanged)."""
        self._fingerprints: dict[UUID, tuple[object, ...]] = {}
        self._dispatcher = Dispatcher(
            pool,
            self.catalog,
            self._dispatch,
            self.reporter,
            scheduler_id=self.scheduler_id,
            on_error=self._on_dispatch_error,
        )
        self.passes = 0

    # --- wake-ups ---------------------------------------------------------------------------

    def wake_run(self, run_uuid: UUID) -> None:
        """A task of this run changed: plan it now (here, and on the leader if elsewhere)."""
        self.wakeup.mark_run(run_uuid)
        if self._notify_peers:
            self._spawn(notify(self._pool, SCHEDULER_CHANNEL, str(run_uuid)))

    def wake_task(self, run_uuid: UUID, task_id: str) -> None:
        """A task instance of this run changed state: plan from it (here, and on the leader)."""
        self.wakeup.mark_task(run_uuid, task_id)
        if self._notify_peers:
            self._spawn(notify(self._pool, SCHEDULER_CHANNEL, f"{run_uuid} {task_id}"))

    def wake_all(self) -> None:
        """Something beyond one run changed (a trigger, a pause): reconcile everything."""
        self.wakeup.request_full_pass()
        if self._notify_peers:
            self._spawn(notify(self._pool, SCHEDULER_CHANNEL, FULL_RUN))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- leadership -------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leader_since is not None

    async def run(self) -> None:
        """Contend for leadership until :meth:`stop`; schedule while leading."""
        while not self._stopping.is_set():
            lease = LeaderLease(
                self._dsn,
                self._settings.leader_lock_key,
                watchdog_interval=self._settings.leader_watchdog_interval_seconds,
            )
            try:
                acquired = await lease.try_acquire()
            except Exception as exc:  # database down: keep trying, never die
                log.warning("leadership attempt failed", error=str(exc))
                acquired = False
            if acquired:
                try:
                    await self._lead(lease)
                finally:
                    await lease.release()
            await self._heartbeat(is_leader=False)
            await self._sleep(self._settings.scheduler_follower_retry_seconds)

    async def stop(self) -> None:
        """Ask the loop to finish its current pass and return."""
        self._stopping.set()
        self.wakeup.request_full_pass()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _heartbeat(self, *, is_leader: bool) -> None:
        try:
            await record_scheduler_heartbeat(
                self._pool,
                self.scheduler_id,
                socket.gethostname(),
                os.getpid(),
                is_leader=is_leader,
            )
        except Exception as exc:
            log.warning("scheduler heartbeat failed", error=str(exc))

    async def _lead(self, lease: LeaderLease) -> None:
        log.info("scheduler became leader", scheduler_id=self.scheduler_id)
        self._leader_since = time.monotonic()
        SCHEDULER_LEADER.set(1)
        self._dispatch.start()
        listener = asyncio.create_task(self._listen(), name="scheduler-listen")
        last_full = 0.0
        try:
            while not self._stopping.is_set() and lease.is_leader:
                tick = self._settings.scheduler_tick_seconds
                await self.wakeup.wait_for_signal(max(tick - (time.monotonic() - last_full), 0.0))
                drained = self.wakeup.drain()
                full = drained.full
                if full or time.monotonic() - last_full >= tick:
                    full = True
                    last_full = time.monotonic()
                await self.run_pass(drained.dirty, full=full, changed=drained.changed)
                if full:
                    await self._heartbeat(is_leader=True)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await self._dispatch.stop()
            self._leader_since = None
            SCHEDULER_LEADER.set(0)
            log.info("scheduler stopped leading", scheduler_id=self.scheduler_id)

    async def _listen(self) -> None:
        """Feed ``NOTIFY`` wake-ups from other replicas into the in-process signal."""
        while True:
            try:
                async with Listener(self._dsn, SCHEDULER_CHANNEL) as listener:
                    async for wake in listener:
                        self._on_notification(wake.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # reconnect; the tick covers what was missed
                log.warning("wake-up listener lost its connection", error=str(exc))
                await asyncio.sleep(1.0)

    def _on_notification(self, payload: str) -> None:
        """``*`` (or nothing): a full pass; ``<run uuid>``: that run changed; ``<run uuid>
        <task id>``: that task instance of the run changed. Anything else asks for a full
        pass (a newer replica's format is never lost, only planned less precisely)."""
        if payload == FULL_RUN or not payload:
            self.wakeup.request_full_pass()
            return
        run_part, _, task_id = payload.partition(" ")
        try:
            run_uuid = UUID(run_part)
        except ValueError:
            self.wakeup.request_full_pass()
            return
        if task_id:
            self.wakeup.mark_task(run_uuid, task_id)
        else:
            self.wakeup.mark_run(run_uuid)

    # --- one pass ---------------------------------------------------------------------------

    async def run_pass(
        self,
        dirty: dict[UUID, float] | None = None,
        *,
        full: bool = True,
        changed: Mapping[UUID, frozenset[str]] | None = None,
    ) -> None:
        """One reconciliation pass. Errors are counted and logged; the loop always goes on.

        ``dirty``: the runs to plan in an event pass; ``changed``: for those of them whose
        every change named its task, the tasks that changed.
        """
        started = time.perf_counter()
        dirty = dirty or {}
        now = self._clock()
        try:
            if full:
                await self._guarded("create_scheduled_runs", self._create_scheduled_runs(now))
                await self._guarded("start_queued_runs", self._start_queued_runs(now))
                runs = await list_active_runs(self._pool, RunState.RUNNING)
                self._active_runs = {run.id: run for run in runs}
                self._dispatcher.note_running_versions((r.dag_version_id for r in runs), every=True)
            else:
                runs = await self._dirty_runs(dirty, changed or {})
            finished = await self._plan_and_apply(runs, now, dirty, full=full, changed=changed)
            if finished and not full:
                await self._guarded("start_queued_runs", self._start_queued_runs(now))
            if full and self._reapers_armed():
                await self._guarded("reap", self._reap(now))
            await self._guarded("dispatch", self._dispatcher.dispatch(full=full))
            if full:
                await self._guarded("gauges", self._update_gauges(runs))
        except Exception as exc:  # the database went away mid-pass: try again next pass
            SCHEDULER_PASS_ERRORS.labels("pass").inc()
            log.exception("scheduler pass failed", error=str(exc))
        finally:
            self.passes += 1
            SCHEDULER_LOOP_DURATION.labels("full" if full else "event").observe(
                time.perf_counter() - started
            )

    async def _guarded(self, stage: str, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as exc:
            SCHEDULER_PASS_ERRORS.labels(stage).inc()
            log.exception("scheduler stage failed", stage=stage, error=str(exc))

    def _reapers_armed(self) -> bool:
        if self._leader_since is None:
            return True  # driven directly (tests, benchmarks): no leadership grace applies
        grace = self._settings.reaper_grace_seconds
        if grace is None:
            grace = self._settings.heartbeat_timeout_seconds
        return time.monotonic() - self._leader_since >= grace

    # --- scheduled runs ---------------------------------------------------------------------

    async def _create_scheduled_runs(self, now: datetime) -> None:
        for dag in await list_schedulable_dags(self._pool):
            try:
                compiled = await self.catalog.get(dag.latest_version_id)
                for slot in self._due_slots(compiled, dag, now):
                    _, created = await create_dag_run(
                        self._pool,
                        dag_uuid=dag.dag_uuid,
                        run_id=f"scheduled__{slot.logical_date.isoformat()}",
                        dag_version_id=dag.latest_version_id,
                        run_type=RunType.SCHEDULED,
                        logical_date=slot.logical_date,
                        data_interval_start=slot.data_interval_start,
                        data_interval_end=slot.data_interval_end,
                        run_after=slot.run_after,
                        triggered_by="timetable",
                    )
                    if created:
                        SCHEDULER_DECISIONS.labels("create_scheduled_run").inc()
            except Exception as exc:  # one broken DAG never blocks the others
                SCHEDULER_PASS_ERRORS.labels("create_scheduled_run").inc()
                log.exception("cannot schedule runs", dag_id=dag.dag_id, error=str(exc))

    @staticmethod
    def _due_slots(compiled: CompiledDag, dag: SchedulableDag, now: datetime) -> list[RunSlot]:
        spec = compiled.spec
        if spec.schedule is None:
            return []
        if spec.schedule == "@once":
            slot = next_once_run(spec.start_date, already_ran=dag.scheduled_run_count > 0)
            return [slot] if slot is not None and slot.run_after <= now else []
        if spec.start_date is None:
            return []
        timetable: Timetable
        if isinstance(spec.schedule, IntervalSchedule):
            interval = timedelta(seconds=spec.schedule.interval_seconds)
            timetable = DeltaTimetable(interval, anchor=spec.start_date)
        else:
            timetable = CronTimetable(spec.schedule, spec.schedule_timezone)
        restriction = ScheduleRestriction(spec.start_date, spec.end_date, spec.catchup)
        return due_runs(
            timetable,
            restriction,
            dag.last_scheduled_logical_date,
            now,
            limit=MAX_SCHEDULED_RUNS_PER_PASS,
        )

    async def _start_queued_runs(self, now: datetime) -> None:
        queued = [
            run
            for run in await list_active_runs(self._pool, RunState.QUEUED)
            if not run.is_paused and run.run_after <= now
        ]
        if not queued:
            return
        running = await count_running_runs(self._pool, list({r.dag_uuid for r in queued}))
        for run in queued:
            try:
                compiled = await self.catalog.get(run.dag_version_id)
                if running.get(run.dag_uuid, 0) >= compiled.spec.max_active_runs:
                    continue
                if await self._start_run(run, compiled):
                    running[run.dag_uuid] = running.get(run.dag_uuid, 0) + 1
            except Exception as exc:
                SCHEDULER_PASS_ERRORS.labels("start_run").inc()
                log.exception(
                    "cannot start run", dag_id=run.dag_id, run_id=run.run_id, error=str(exc)
                )

    async def _start_run(self, run: ActiveRun, compiled: CompiledDag) -> bool:
        """queued → running and create its task instances, in one transaction."""
        async with self._pool.connection() as conn, conn.transaction():
            started = await transition_dag_run(conn, run.id, RunState.RUNNING)
            if started is None:
                return False
            await create_task_instances(
                conn, run.id, [t.task_id for t in compiled.spec.tasks], compiled.max_tries()
            )
        SCHEDULER_DECISIONS.labels("start_run").inc()
        self._dispatcher.note_running_versions([run.dag_version_id])
        self.wakeup.mark_run(run.id)
        return True

    # --- planning ---------------------------------------------------------------------------

    async def _dirty_runs(
        self, dirty: Mapping[UUID, float], changed: Mapping[UUID, frozenset[str]]
    ) -> list[ActiveRun]:
        """The running runs among ``dirty``: those to be planned from their changes as last
        read (their partial plan checks that they have not changed), the others read now."""
        known: list[ActiveRun] = []
        for run_id in dirty:
            run = self._active_runs.get(run_id)
            if run is not None and run_id in changed and await self._plans_partially(run):
                known.append(run)
        cached = {run.id for run in known}
        return known + await self._read_runs([run_id for run_id in dirty if run_id not in cached])

    async def _plans_partially(self, run: ActiveRun) -> bool:
        """Whether an event pass plans ``run`` from its changed tasks (wide enough)."""
        least = self._partial_plan_min_tasks
        if least is None:
            return False
        return len((await self.catalog.get(run.dag_version_id)).graph.nodes) >= least

    async def _read_runs(self, run_ids: list[UUID]) -> list[ActiveRun]:
        """Those of ``run_ids`` that are running, read now (and remembered)."""
        if not run_ids:
            return []
        runs = await list_active_runs(self._pool, RunState.RUNNING, run_ids)
        for run_id in run_ids:
            self._active_runs.pop(run_id, None)
        self._active_runs.update((run.id, run) for run in runs)
        return runs

    async def _changed_runs(
        self, runs: list[ActiveRun], dirty: dict[UUID, float]
    ) -> list[ActiveRun]:
        """The runs of a full pass that may need a move: changed since they were last found
        stable, dirty, or with a retry come due. Unchanged runs are skipped without loading
        their task instances; after a restart the memo is empty, so every run is planned."""
        prints = {
            fp.run_uuid: fp for fp in await list_run_fingerprints(self._pool, [r.id for r in runs])
        }
        keep: list[ActiveRun] = []
        memo: dict[UUID, tuple[object, ...]] = {}
        for run in runs:
            fp = prints.get(run.id)
            key = (
                fp.last_change if fp else None,
                fp.task_instances if fp else 0,
                run.is_paused,
                run.dag_version_id,
            )
            memo[run.id] = key
            unchanged = self._stable_runs.get(run.id) == key
            if run.id in dirty or not unchanged or (fp is not None and fp.retry_due):
                keep.append(run)
        self._stable_runs = {
            rid: self._stable_runs[rid] for rid in memo if rid in self._stable_runs
        }
        self._fingerprints = memo
        return keep

    async def _plan_and_apply(
        self,
        runs: list[ActiveRun],
        now: datetime,
        dirty: dict[UUID, float],
        *,
        full: bool,
        changed: Mapping[UUID, frozenset[str]] | None = None,
    ) -> bool:
        """Plan every given run, apply the moves, finalize settled runs. True if any finished.

        In an event pass a run whose changed tasks are all known (``changed``) is planned from
        those tasks (:mod:`leoflow.scheduler.incremental`); every other run, and every run of a
        full pass, is planned from all of its task instances.
        """
        if full:
            runs = await self._changed_runs(runs, dirty)
        if not runs:
            return False
        partial_runs = []
        if not full and changed:
            partial_runs = [
                run for run in runs if run.id in changed and await self._plans_partially(run)
            ]
        partial = await self._plan_partially(partial_runs, changed or {}, now)
        planned = {p.run.id for p in partial if not p.needs_full_plan}
        # A run left to a full plan is planned as read now (it may come from the cache).
        stale = [p.run.id for p in partial if p.needs_full_plan]
        whole = [run for run in runs if run.id not in planned and run.id not in stale]
        whole.extend(await self._read_runs(stale))
        results = await self._plan_whole(whole, now)
        results.extend(
            _RunPlanResult(p.run, p.moves, p.retries, RunVerdict.RUNNING, p.ids)
            for p in partial
            if not p.needs_full_plan
        )
        applied_ok = await self._apply(results)
        for result in results:
            stable = not result.moves and not result.retries
            key = self._fingerprints.get(result.run.id)
            if full and stable and key is not None and result.verdict is RunVerdict.RUNNING:
                self._stable_runs[result.run.id] = key
            else:
                self._stable_runs.pop(result.run.id, None)
        finished = await self._finalize(results, applied_ok, dirty, full=full)
        # A run left with nothing unsettled gets its verdict from a plan of all of it.
        settled = [
            p.run
            for p in partial
            if p.may_be_finished and applied_ok.get(p.run.id, True) and not p.needs_full_plan
        ]
        if settled and await self._plan_and_apply(settled, now, dirty, full=False):
            finished = True
        return finished

    async def _plan_partially(
        self, runs: list[ActiveRun], changed: Mapping[UUID, frozenset[str]], now: datetime
    ) -> list[PartialPlan]:
        if not runs:
            return []
        try:
            return await plan_partially(self._pool, self.catalog, runs, changed, now)
        except Exception as exc:  # plan them in full instead
            SCHEDULER_PASS_ERRORS.labels("plan_partially").inc()
            log.exception("cannot plan runs from their changes", error=str(exc))
            return [PartialPlan(run, needs_full_plan=True) for run in runs]

    async def _plan_whole(self, runs: list[ActiveRun], now: datetime) -> list[_RunPlanResult]:
        """Plan each run from a snapshot of all of its task instances (one read for all)."""
        if not runs:
            return []
        by_run: dict[UUID, list[TaskInstanceState]] = {run.id: [] for run in runs}
        for ti in await list_task_instance_states(self._pool, list(by_run)):
            by_run[ti.run_uuid].append(ti)
        results: list[_RunPlanResult] = []
        for run in runs:
            try:
                result = await self._plan_one(run, by_run[run.id], now)
            except Exception as exc:  # a poison run is isolated
                SCHEDULER_PASS_ERRORS.labels("plan_run").inc()
                log.exception(
                    "cannot plan run", dag_id=run.dag_id, run_id=run.run_id, error=str(exc)
                )
                continue
            if result is not None:
                results.append(result)
        return results

    async def _finalize(
        self,
        results: list[_RunPlanResult],
        applied_ok: Mapping[UUID, bool],
        dirty: dict[UUID, float],
        *,
        full: bool,
    ) -> bool:
        """Move runs whose plan decided a verdict to success or failed. True if any finished."""
        finished = False
        for result in results:
            if result.verdict is RunVerdict.RUNNING or not applied_ok.get(result.run.id, True):
                continue
            done = await transition_dag_run(
                self._pool, result.run.id, result.verdict.as_run_state()
            )
            if done is not None:
                finished = True
                self._active_runs.pop(result.run.id, None)
                SCHEDULER_DECISIONS.labels(f"run_{result.verdict.value}").inc()
                if full and result.run.id not in dirty and not result.moves:
                    ORPHAN_RUNS_REAPED.inc()
        return finished

    async def _plan_one(
        self, run: ActiveRun, tis: list[TaskInstanceState], now: datetime
    ) -> _RunPlanResult | None:
        compiled = await self.catalog.get(run.dag_version_id)
        present = {ti.task_id for ti in tis}
        missing = [tid for tid in compiled.tasks if tid not in present]
        if missing:  # self-heal a run started without all of its task instances
            await create_task_instances(self._pool, run.id, missing, compiled.max_tries())
            self.wakeup.mark_run(run.id)
            return None
        views = {
            ti.task_id: TaskInstanceView(ti.task_id, ti.state, ti.try_number, ti.next_retry_at)
            for ti in tis
        }
        plan = plan_run(compiled.graph, views, now)
        moves, retries = admissible_moves(run.is_paused, plan.moves)
        verdict = plan.verdict
        if run.is_paused and len(moves) + len(retries) != len(plan.moves):
            verdict = RunVerdict.RUNNING
        ids: dict[str, UUID] = {}
        if moves or retries:
            ids = {ti.task_id: ti.id for ti in tis}
        return _RunPlanResult(run, moves, retries, verdict, ids)

    async def _apply(self, results: list[_RunPlanResult]) -> dict[UUID, bool]:
        """Apply all planned moves in one batch (retries one by one); per run: all applied?"""
        planned: list[tuple[UUID, PlannedMove, Move]] = []
        for result in results:
            for move in result.moves:
                ti_id = result.ids[move.task_id]
                planned.append(
                    (
                        result.run.id,
                        PlannedMove(ti_id, move.source, move.target, move.try_number),
                        move,
                    )
                )
        applied = await apply_moves(self._pool, [p for _, p, _ in planned])
        ok: dict[UUID, bool] = {}
        for run_id, planned_move, move in planned:
            if planned_move.ti_id in applied:
                SCHEDULER_DECISIONS.labels(move.kind.value).inc()
                TASK_STATE_TRANSITIONS.labels(move.source.value, move.target.value).inc()
                if move.target is TaskState.SCHEDULED:
                    self._dispatcher.note_scheduled()
            else:
                ok[run_id] = False
                self.wakeup.mark_run(run_id)
        for result in results:
            for move in result.retries:
                ti_id = result.ids[move.task_id]
                res = await start_next_try(
                    self._pool, ti_id, move.try_number, to_state=TaskState.SCHEDULED
                )
                if res.applied:
                    self._dispatcher.note_scheduled()
                    SCHEDULER_DECISIONS.labels(MoveKind.RETRY.value).inc()
                    TASK_STATE_TRANSITIONS.labels(move.source.value, move.target.value).inc()
                else:
                    ok[result.run.id] = False
        return ok

    # --- dispatch ---------------------------------------------------------------------------

    async def _on_dispatch_error(self, launch: TaskLaunch, exc: BaseException) -> None:
        """The executor refused or failed to start the try: fail it (it may retry)."""
        compiled = await self.catalog.get(launch.dag_version_id)
        current = await get_task_instance(self._pool, launch.ti_id)  # a rare path: read it
        outcome = failure_outcome(
            compiled.retry_policy(launch.task_id),
            launch.try_number,
            self._clock(),
            current.max_tries if current is not None else None,
        )
        fields: dict[str, Any] = {}
        if outcome.next_retry_at is not None:
            fields["next_retry_at"] = outcome.next_retry_at
        result = await transition_task_instance(
            self._pool, launch.ti_id, outcome.state, try_number=launch.try_number, **fields
        )
        if result.applied:
            ref = TryRef(
                launch.ti_id,
                launch.try_number,
                launch.dag_id,
                launch.run_id,
                launch.task_id,
                task_type=launch.task_type,
            )
            observe_transition(ref, TaskState.QUEUED, result)
            log.error(
                "task failed to start",
                dag_id=launch.dag_id,
                run_id=launch.run_id,
                task_id=launch.task_id,
                try_number=launch.try_number,
                error=str(exc),
            )
        self.wakeup.mark_run(launch.run_uuid)

    # --- reapers ----------------------------------------------------------------------------

    async def _reap(self, now: datetime) -> None:
        timeout = timedelta(seconds=self._settings.heartbeat_timeout_seconds)
        for ti in await list_stale_running(self._pool, now - timeout):
            await self._guarded("reap_agent_lost", self._fail_lost_agent(ti, now))
        lost_after = timedelta(seconds=self._settings.dispatch_lost_timeout_seconds)
        for lost in await list_lost_dispatches(self._pool, now - lost_after):
            await self._guarded("reap_dispatch_lost", self._handle_lost_dispatch(lost, now))

    async def _fail_with_policy(
        self,
        ti_id: UUID,
        run_uuid: UUID,
        task_id: str,
        try_number: int,
        now: datetime,
        *,
        source: TaskState,
        max_tries: int | None = None,
    ) -> TaskState | None:
        runs = await list_active_runs(self._pool, RunState.RUNNING, [run_uuid])
        if not runs:
            return None
        compiled = await self.catalog.get(runs[0].dag_version_id)
        outcome = failure_outcome(compiled.retry_policy(task_id), try_number, now, max_tries)
        fields: dict[str, Any] = {}
        if outcome.next_retry_at is not None:
            fields["next_retry_at"] = outcome.next_retry_at
        result = await transition_task_instance(
            self._pool, ti_id, outcome.state, try_number=try_number, **fields
        )
        if not result.applied:
            return None
        task = compiled.tasks.get(task_id)
        ref = TryRef(
            ti_id,
            try_number,
            runs[0].dag_id,
            runs[0].run_id,
            task_id,
            task_type=task.type.value if task is not None else "unknown",
        )
        observe_transition(ref, source, result)
        self.wakeup.mark_run(run_uuid)
        return outcome.state

    async def _fail_lost_agent(self, ti: TaskInstanceState, now: datetime) -> None:
        state = await self._fail_with_policy(
            ti.id,
            ti.run_uuid,
            ti.task_id,
            ti.try_number,
            now,
            source=TaskState.RUNNING,
            max_tries=ti.max_tries,
        )
        if state is not None:
            AGENT_LOST.inc()
            log.warning(
                "agent_lost: no heartbeat, try failed",
                task_id=ti.task_id,
                try_number=ti.try_number,
                heartbeat_timeout_seconds=self._settings.heartbeat_timeout_seconds,
            )

    async def _handle_lost_dispatch(self, lost: LostDispatch, now: datetime) -> None:
        ti_id, run_uuid, task_id, try_number = lost.id, lost.run_uuid, lost.task_id, lost.try_number
        if lost.dispatch_attempts <= MAX_REDISPATCHES:
            result = await transition_task_instance(
                self._pool, ti_id, TaskState.SCHEDULED, try_number=try_number
            )
            if result.applied:
                self._dispatcher.note_scheduled()
                DISPATCH_LOST.labels("redispatched").inc()
                log.warning(
                    "dispatch_lost: try re-dispatched", task_id=task_id, try_number=try_number
                )
            return
        state = await self._fail_with_policy(
            ti_id,
            run_uuid,
            task_id,
            try_number,
            now,
            source=TaskState.QUEUED,
            max_tries=lost.max_tries,
        )
        if state is not None:
            DISPATCH_LOST.labels("failed").inc()
            log.warning("dispatch_lost: try failed", task_id=task_id, try_number=try_number)

    async def _update_gauges(self, running: list[ActiveRun]) -> None:
        queued_runs = await list_active_runs(self._pool, RunState.QUEUED)
        ACTIVE_DAG_RUNS.labels("running").set(len(running))
        ACTIVE_DAG_RUNS.labels("queued").set(len(queued_runs))
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT count(*) FROM task_instances WHERE state = 'queued'")
            row = await cur.fetchone()
        QUEUED_TASKS.set(int(row[0]) if row else 0)
