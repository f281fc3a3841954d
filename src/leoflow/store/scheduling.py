"""The scheduler's reads and batched guarded writes.

Everything here serves one reconciliation pass: read the runs that changed and their task
instance states in as few round trips as possible, then apply the planner's moves as one
batched compare-and-set (each row guarded by its exact source state and try number, so a move
planned from a stale snapshot simply does not apply).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.rows import class_row

from leoflow.states import RunState, TaskState
from leoflow.store.pool import Database, single_statement


@dataclass(frozen=True)
class ActiveRun:
    """A queued or running run with what scheduling needs from its DAG."""

    id: UUID
    dag_uuid: UUID
    dag_id: str
    tenant_id: UUID
    run_id: str
    dag_version_id: UUID
    state: RunState
    is_paused: bool
    logical_date: datetime | None
    run_after: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", RunState(self.state))


@dataclass(frozen=True, slots=True)
class TaskInstanceState:
    """The columns of a task instance the planner reads."""

    id: UUID
    run_uuid: UUID
    task_id: str
    state: TaskState
    try_number: int
    max_tries: int
    next_retry_at: datetime | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> TaskInstanceState:
        """From the columns of :data:`_TASK_INSTANCE_STATE_COLUMNS`, in order.

        A pass reads every task instance of each run it plans (a thousand for a wide run, at
        every state change): positional and with the state looked up, this costs a third of
        building the row by column name.
        """
        return cls(row[0], row[1], row[2], _TASK_STATES[row[3]], row[4], row[5], row[6])


_TASK_STATES = {state.value: state for state in TaskState}
_TASK_INSTANCE_STATE_COLUMNS = "id, run_uuid, task_id, state, try_number, max_tries, next_retry_at"


@dataclass(frozen=True)
class PlannedMove:
    """One row of a batched guarded write."""

    ti_id: UUID
    source: TaskState
    target: TaskState
    try_number: int


@dataclass(frozen=True)
class DispatchCandidate:
    """A ``scheduled`` task instance that may be handed to an executor."""

    id: UUID
    run_uuid: UUID
    dag_uuid: UUID
    dag_id: str
    tenant_id: UUID
    run_id: str
    dag_version_id: UUID
    task_id: str
    map_index: int
    try_number: int
    logical_date: datetime | None


@dataclass(frozen=True)
class SchedulableDag:
    """An unpaused DAG with its latest version, a candidate for scheduled runs."""

    dag_uuid: UUID
    dag_id: str
    latest_version_id: UUID
    last_scheduled_logical_date: datetime | None
    scheduled_run_count: int


_RUN_COLUMNS = """
    r.id, r.dag_uuid, d.dag_id, d.tenant_id, r.run_id, r.dag_version_id, r.state,
    d.is_paused, r.logical_date, r.run_after
"""


async def list_active_runs(
    db: Database, state: RunState, run_uuids: Sequence[UUID] | None = None
) -> list[ActiveRun]:
    """Runs in ``state`` (all of them, or only ``run_uuids``), oldest ``run_after`` first."""
    query = f"""
        SELECT {_RUN_COLUMNS} FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
        WHERE r.state = %(state)s AND (%(ids)s::uuid[] IS NULL OR r.id = ANY(%(ids)s::uuid[]))
        ORDER BY r.run_after, r.created_at
    """
    ids = list(run_uuids) if run_uuids is not None else None
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(ActiveRun))
        await cur.execute(query, {"state": RunState(state).value, "ids": ids})
        return await cur.fetchall()


async def list_task_instance_states(
    db: Database, run_uuids: Sequence[UUID]
) -> list[TaskInstanceState]:
    """Current try state of every task instance of the given runs (one round trip)."""
    if not run_uuids:
        return []
    async with single_statement(db) as conn:
        cur = await conn.execute(
            f"SELECT {_TASK_INSTANCE_STATE_COLUMNS} "
            "FROM task_instances WHERE run_uuid = ANY(%s::uuid[])",
            (list(run_uuids),),
        )
        return [TaskInstanceState.from_row(row) for row in await cur.fetchall()]


_UNSETTLED = "'none', 'scheduled', 'queued', 'running', 'deferred', 'up_for_retry'"

_LOAD_TASK_STATES = f"""
    SELECT {_TASK_INSTANCE_STATE_COLUMNS}, false, NULL::boolean, NULL::boolean
    FROM task_instances
    WHERE run_uuid = %(run)s AND task_id = ANY(%(tasks)s::text[])
    UNION ALL
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, true,
        EXISTS (
            SELECT 1 FROM task_instances
            WHERE run_uuid = %(run)s AND state IN ({_UNSETTLED})
              AND task_id <> ALL(%(seen)s::text[])
        ),
        EXISTS (
            SELECT 1 FROM dag_runs r JOIN dags d ON d.id = r.dag_uuid
            WHERE r.id = %(run)s AND r.state = 'running' AND r.dag_version_id = %(version)s
              AND d.is_paused = %(paused)s
        )
"""


@dataclass(frozen=True)
class TaskStatesSnapshot:
    """Some task instances of a run, whether any *other* task instance of the run is still
    unsettled, and whether the run is still as the caller knew it (read in one statement, so
    all three describe the same moment)."""

    rows: list[TaskInstanceState]
    unsettled_elsewhere: bool
    run_unchanged: bool
    """The run is still ``running``, at the DAG version and paused flag the caller gave."""


async def load_task_states(
    db: Database,
    run: ActiveRun,
    wanted: Collection[str],
    seen: Collection[str],
) -> TaskStatesSnapshot:
    """The task instances ``wanted`` of ``run``, whether one not in ``seen`` (the task ids the
    caller already knows, ``wanted`` included) is still unsettled — so a pass that looked at a
    few task instances of a wide run knows whether the run may be over without reading all of
    them — and whether ``run`` (as the caller last read it) is unchanged, which spares reading
    the run's row again on every pass."""
    params = {
        "run": run.id,
        "tasks": list(wanted),
        "seen": list(seen),
        "version": run.dag_version_id,
        "paused": run.is_paused,
    }
    async with single_statement(db) as conn:
        cur = await conn.execute(_LOAD_TASK_STATES, params)
        records = await cur.fetchall()
    meta = next(row for row in records if row[7])
    return TaskStatesSnapshot(
        rows=[TaskInstanceState.from_row(row) for row in records if not row[7]],
        unsettled_elsewhere=bool(meta[8]),
        run_unchanged=bool(meta[9]),
    )


_APPLY_MOVES = """
    UPDATE task_instances t SET
        state = m.target,
        start_date = CASE WHEN m.target = 'success' THEN COALESCE(t.start_date, now())
                          ELSE t.start_date END,
        end_date = CASE WHEN m.target IN ('success', 'skipped', 'upstream_failed', 'removed')
                        THEN now() ELSE t.end_date END,
        duration = CASE WHEN m.target = 'success' AND t.start_date IS NULL THEN 0
                        ELSE t.duration END
    FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::integer[])
         AS m (id, source, target, try_number)
    WHERE t.id = m.id AND t.state = m.source AND t.try_number = m.try_number
    RETURNING t.id
"""


async def apply_moves(db: Database, moves: Sequence[PlannedMove]) -> set[UUID]:
    """Apply many guarded moves in one statement; returns the ids whose move applied.

    The caller checks legality against the state machine first; here each row is guarded by
    its exact expected source state and try number.
    """
    if not moves:
        return set()
    params = (
        [m.ti_id for m in moves],
        [m.source.value for m in moves],
        [m.target.value for m in moves],
        [m.try_number for m in moves],
    )
    async with single_statement(db) as conn:
        cur = await conn.execute(_APPLY_MOVES, params)
        return {row[0] for row in await cur.fetchall()}


async def list_dispatch_candidates(db: Database, limit: int) -> list[DispatchCandidate]:
    """``scheduled`` task instances of running runs of unpaused DAGs, oldest first."""
    query = """
        SELECT ti.id, ti.run_uuid, r.dag_uuid, d.dag_id, d.tenant_id, r.run_id, r.dag_version_id,
               ti.task_id, ti.map_index, ti.try_number, r.logical_date
        FROM task_instances ti
        JOIN dag_runs r ON r.id = ti.run_uuid
        JOIN dags d ON d.id = r.dag_uuid
        WHERE ti.state = 'scheduled' AND r.state = 'running' AND NOT d.is_paused
        ORDER BY ti.updated_at, ti.id
        LIMIT %s
    """
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(DispatchCandidate))
        await cur.execute(query, (limit,))
        return await cur.fetchall()


async def count_active_task_instances(db: Database, dag_uuids: Sequence[UUID]) -> dict[UUID, int]:
    """Queued, running and deferred task instances per DAG (for ``max_active_tasks``)."""
    if not dag_uuids:
        return {}
    query = """
        SELECT r.dag_uuid, count(*) FROM task_instances ti JOIN dag_runs r ON r.id = ti.run_uuid
        WHERE ti.state IN ('queued', 'running', 'deferred') AND r.dag_uuid = ANY(%s::uuid[])
        GROUP BY r.dag_uuid
    """
    async with single_statement(db) as conn:
        cur = await conn.execute(query, (list(dag_uuids),))
        return {row[0]: int(row[1]) for row in await cur.fetchall()}


async def count_running_runs(db: Database, dag_uuids: Sequence[UUID]) -> dict[UUID, int]:
    """Running runs per DAG (for ``max_active_runs``)."""
    if not dag_uuids:
        return {}
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "SELECT dag_uuid, count(*) FROM dag_runs WHERE state = 'running' "
            "AND dag_uuid = ANY(%s::uuid[]) GROUP BY dag_uuid",
            (list(dag_uuids),),
        )
        return {row[0]: int(row[1]) for row in await cur.fetchall()}


async def list_schedulable_dags(db: Database) -> list[SchedulableDag]:
    """Unpaused, active DAGs with a version, and where their schedule stands."""
    query = """
        SELECT d.id AS dag_uuid, d.dag_id, d.latest_version_id,
               s.last_logical_date AS last_scheduled_logical_date,
               COALESCE(s.runs, 0) AS scheduled_run_count
        FROM dags d
        LEFT JOIN LATERAL (
            SELECT max(logical_date) AS last_logical_date, count(*) AS runs
            FROM dag_runs WHERE dag_uuid = d.id AND run_type = 'scheduled'
        ) s ON true
        WHERE NOT d.is_paused AND d.is_active AND d.latest_version_id IS NOT NULL
    """
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(SchedulableDag))
        await cur.execute(query)
        return await cur.fetchall()


async def load_version_spec(db: Database, version_id: UUID) -> dict[str, Any]:
    """The compiled ``dag.json`` of a DAG version (immutable: callers may cache it forever)."""
    async with single_statement(db) as conn:
        cur = await conn.execute("SELECT spec FROM dag_versions WHERE id = %s", (version_id,))
        row = await cur.fetchone()
    if row is None:
        raise LookupError(f"DAG version {version_id} does not exist")
    spec: dict[str, Any] = row[0]
    return spec


async def list_stale_running(db: Database, older_than: datetime) -> list[TaskInstanceState]:
    """``running`` task instances whose last heartbeat is older than ``older_than``."""
    async with single_statement(db) as conn:
        cur = await conn.execute(
            f"SELECT {_TASK_INSTANCE_STATE_COLUMNS} FROM task_instances "
            "WHERE state = 'running' AND COALESCE(last_heartbeat_at, start_date) < %s",
            (older_than,),
        )
        return [TaskInstanceState.from_row(row) for row in await cur.fetchall()]


@dataclass(frozen=True)
class LostDispatch:
    """A ``queued`` task instance whose agent never reported ``running``."""

    id: UUID
    run_uuid: UUID
    task_id: str
    try_number: int
    dispatch_attempts: int
    max_tries: int | None = None


async def list_lost_dispatches(db: Database, older_than: datetime) -> list[LostDispatch]:
    """``queued`` task instances queued before ``older_than`` that never started."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(LostDispatch))
        await cur.execute(
            "SELECT id, run_uuid, task_id, try_number, dispatch_attempts, max_tries "
            "FROM task_instances "
            "WHERE state = 'queued' AND queued_at < %s",
            (older_than,),
        )
        return await cur.fetchall()


async def record_scheduler_heartbeat(
    db: Database, scheduler_id: str, hostname: str, pid: int, *, is_leader: bool
) -> None:
    """Stamp this scheduler's liveness (what ``/monitor/health`` reports)."""
    async with single_statement(db) as conn:
        await conn.execute(
            """
            INSERT INTO scheduler_heartbeats (scheduler_id, hostname, pid, is_leader)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (scheduler_id) DO UPDATE
            SET heartbeat_at = now(), is_leader = EXCLUDED.is_leader
            """,
            (scheduler_id, hostname, pid, is_leader),
        )


@dataclass(frozen=True)
class SchedulerHeartbeat:
    """The latest liveness stamp of a scheduler process."""

    scheduler_id: str
    hostname: str
    is_leader: bool
    heartbeat_at: datetime


async def latest_scheduler_heartbeat(db: Database) -> SchedulerHeartbeat | None:
    """The most recent heartbeat of a leading scheduler (any scheduler when none leads)."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(SchedulerHeartbeat))
        await cur.execute(
            "SELECT scheduler_id, hostname, is_leader, heartbeat_at FROM scheduler_heartbeats "
            "ORDER BY is_leader DESC, heartbeat_at DESC LIMIT 1"
        )
        return await cur.fetchone()


_CLAIM = """
    UPDATE task_instances t SET
        state = 'queued', queued_at = now(), queued_by = %s,
        dispatch_attempts = t.dispatch_attempts + 1
    FROM unnest(%s::uuid[], %s::integer[]) AS m (id, try_number)
    WHERE t.id = m.id AND t.try_number = m.try_number AND t.state = 'scheduled'
    RETURNING t.id
"""


async def claim_for_dispatch(
    db: Database, claims: Sequence[tuple[UUID, int]], queued_by: str
) -> set[UUID]:
    """Move ``scheduled`` tries to ``queued`` in one guarded statement; returns those claimed.

    Guarded by state and try number, so two schedulers (a stale leader and a new one) can never
    both claim the same try: that is what makes a dispatch happen at most once.
    """
    if not claims:
        return set()
    async with single_statement(db) as conn:
        cur = await conn.execute(
            _CLAIM, (queued_by, [c[0] for c in claims], [c[1] for c in claims])
        )
        return {row[0] for row in await cur.fetchall()}


_CLAIM_OLDEST = """
    WITH picked AS (
        SELECT ti.id, ti.try_number, ti.updated_at
        FROM task_instances ti
        JOIN dag_runs r ON r.id = ti.run_uuid
        JOIN dags d ON d.id = r.dag_uuid
        WHERE ti.state = 'scheduled' AND r.state = 'running' AND NOT d.is_paused
        ORDER BY ti.updated_at, ti.id
        LIMIT %(limit)s
        FOR UPDATE OF ti SKIP LOCKED
    )
    UPDATE task_instances t SET
        state = 'queued', queued_at = now(), queued_by = %(by)s,
        dispatch_attempts = t.dispatch_attempts + 1
    FROM picked p, dag_runs r, dags d
    WHERE t.id = p.id AND t.try_number = p.try_number AND t.state = 'scheduled'
      AND r.id = t.run_uuid AND d.id = r.dag_uuid
    RETURNING t.id, t.run_uuid, r.dag_uuid, d.dag_id, d.tenant_id, r.run_id, r.dag_version_id,
              t.task_id, t.map_index, t.try_number, r.logical_date, p.updated_at, p.id
"""


async def claim_oldest_scheduled(
    db: Database, limit: int, queued_by: str
) -> list[DispatchCandidate]:
    """Claim (``scheduled → queued``) up to ``limit`` of the oldest dispatch candidates in one
    statement; returns them oldest first.

    What :func:`list_dispatch_candidates` followed by :func:`claim_for_dispatch` do, in one
    round trip, for when no candidate needs a check between the two (no ``max_active_tasks``
    to respect). Still one guarded write: each row is claimed only while ``scheduled`` at the
    try it was picked at, and rows another claimer holds are skipped, so no try is claimed
    twice.
    """
    async with single_statement(db) as conn:
        cur = await conn.execute(_CLAIM_OLDEST, {"limit": limit, "by": queued_by})
        rows = sorted(await cur.fetchall(), key=lambda row: (row[11], row[12]))
    return [DispatchCandidate(*row[:11]) for row in rows]


@dataclass(frozen=True)
class RunFingerprint:
    """A cheap summary of a run's task instances: changes whenever any of them changes."""

    run_uuid: UUID
    last_change: datetime | None
    task_instances: int
    retry_due: bool


async def list_run_fingerprints(db: Database, run_uuids: Sequence[UUID]) -> list[RunFingerprint]:
    """Per run: latest task instance update, count, and whether a retry has come due.

    Lets a full pass skip runs that have not changed since they were last planned, without
    loading their task instances (the aggregation runs inside PostgreSQL).
    """
    if not run_uuids:
        return []
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(RunFingerprint))
        await cur.execute(
            """
            SELECT run_uuid, max(updated_at) AS last_change, count(*) AS task_instances,
                   bool_or(state = 'up_for_retry'
                           AND (next_retry_at IS NULL OR next_retry_at <= now())) AS retry_due
            FROM task_instances WHERE run_uuid = ANY(%s::uuid[]) GROUP BY run_uuid
            """,
            (list(run_uuids),),
        )
        return await cur.fetchall()
