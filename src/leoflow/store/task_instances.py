"""Task instances: one row per (run, task, map index) holding the current try.

Every state write is one guarded compare-and-set::

    UPDATE … WHERE id = $ti AND try_number = $try AND state = ANY($legal_sources)

so a late report from an old try, a duplicate report, or a scheduler racing an agent can never
move a task backwards. Only when the write did not apply is the row read again, to tell the
caller why (:class:`~leoflow.states.TransitionRefusal`). Earlier tries are archived in
``task_instance_history`` by :func:`start_next_try`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from leoflow.states import (
    TASK_ACTIVE_STATES,
    TASK_TERMINAL_STATES,
    TaskState,
    TransitionRefusal,
    check_task_transition,
    legal_task_sources,
)
from leoflow.store.pool import Connection, Database, acquire, single_statement

TRY_COLUMNS = (
    "state",
    "try_number",
    "max_tries",
    "next_retry_at",
    "last_heartbeat_at",
    "queued_at",
    "start_date",
    "end_date",
    "duration",
    "queued_by",
    "executor",
    "executor_ref",
    "hostname",
    "pid",
    "note",
    "rendered_fields",
    "dispatch_attempts",
)
"""Columns describing one try (identical in ``task_instances`` and its history)."""

COLUMNS = ("id", "run_uuid", "task_id", "map_index", *TRY_COLUMNS, "created_at", "updated_at")

SETTABLE_FIELDS = frozenset(
    {
        "next_retry_at",
        "last_heartbeat_at",
        "queued_by",
        "executor",
        "executor_ref",
        "hostname",
        "pid",
        "note",
        "rendered_fields",
        "max_tries",
        "dispatch_attempts",
    }
)
"""Fields a transition may set along with the state (dates are set by the store's own clock)."""

_PER_TRY_RESET = (
    "next_retry_at",
    "last_heartbeat_at",
    "queued_at",
    "start_date",
    "end_date",
    "duration",
    "queued_by",
    "executor",
    "executor_ref",
    "hostname",
    "pid",
    "rendered_fields",
)
"""Fields that belong to one try and start empty on the next one."""

_CAS_ATTEMPTS = 3


@dataclass(frozen=True)
class TaskInstance:
    """A task instance row: identity plus the state of its current try."""

    id: UUID
    run_uuid: UUID
    task_id: str
    map_index: int
    state: TaskState
    try_number: int
    max_tries: int
    next_retry_at: datetime | None
    last_heartbeat_at: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    queued_by: str | None
    executor: str | None
    executor_ref: str | None
    hostname: str | None
    pid: int | None
    note: str | None
    rendered_fields: dict[str, Any] | None
    dispatch_attempts: int
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TaskState(self.state))


@dataclass(frozen=True)
class TaskInstanceTry:
    """An earlier try of a task instance, as archived in ``task_instance_history``."""

    id: UUID
    task_instance_id: UUID
    run_uuid: UUID
    task_id: str
    map_index: int
    state: TaskState
    try_number: int
    max_tries: int
    next_retry_at: datetime | None
    last_heartbeat_at: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    queued_by: str | None
    executor: str | None
    executor_ref: str | None
    hostname: str | None
    pid: int | None
    note: str | None
    rendered_fields: dict[str, Any] | None
    dispatch_attempts: int
    archived_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", TaskState(self.state))


@dataclass(frozen=True)
class TransitionResult:
    """Outcome of a guarded write: the new row, or why it was refused and what is there now.

    Truthy exactly when the write applied. ``current_state``/``current_try`` describe the row
    after the attempt (absent when not found), so a caller can recognise a duplicate report:
    see :attr:`already_in_target`.
    """

    applied: bool
    target: TaskState | None
    task_instance: TaskInstance | None = None
    refusal: TransitionRefusal | None = None
    current_state: TaskState | None = None
    current_try: int | None = None

    def __bool__(self) -> bool:
        return self.applied

    @property
    def already_in_target(self) -> bool:
        """Refused only because the same try already reached the target (a duplicate report)."""
        return (
            not self.applied
            and self.refusal is TransitionRefusal.ILLEGAL_TRANSITION
            and self.current_state is not None
            and self.current_state == self.target
        )


def _columns(prefix: str = "") -> sql.Composed:
    return sql.SQL(", ").join(sql.SQL(prefix) + sql.Identifier(c) for c in COLUMNS)


async def create_task_instances(
    db: Database,
    run_uuid: UUID,
    task_ids: Iterable[str],
    max_tries: Mapping[str, int] | None = None,
) -> list[TaskInstance]:
    """Create the (unmapped) task instances of a run, in state ``none`` at try 1.

    Idempotent: existing instances are left alone. Returns the rows of ``task_ids`` in the
    order given. ``max_tries`` maps a task to its retry count (Airflow's meaning: the last
    allowed try number is ``max_tries + 1``); missing tasks get 0.
    """
    ids = list(dict.fromkeys(task_ids))
    tries = [int((max_tries or {}).get(task_id, 0)) for task_id in ids]
    query = sql.SQL(
        """
        INSERT INTO task_instances (run_uuid, task_id, max_tries)
        SELECT %(run)s, t.task_id, t.max_tries
        FROM unnest(%(ids)s::text[], %(tries)s::integer[]) AS t (task_id, max_tries)
        ON CONFLICT (run_uuid, task_id, map_index) DO NOTHING
        """
    )
    select = sql.SQL(
        "SELECT {} FROM task_instances "
        "WHERE run_uuid = %(run)s AND task_id = ANY(%(ids)s::text[]) AND map_index = -1"
    ).format(_columns())
    params = {"run": run_uuid, "ids": ids, "tries": tries}
    async with acquire(db) as conn:
        await conn.execute(query, params)
        cur = conn.cursor(row_factory=class_row(TaskInstance))
        await cur.execute(select, params)
        rows = {row.task_id: row for row in await cur.fetchall()}
    return [rows[task_id] for task_id in ids if task_id in rows]


async def get_task_instance(db: Database, ti_id: UUID) -> TaskInstance | None:
    """A task instance by id."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskInstance))
        await cur.execute(
            sql.SQL("SELECT {} FROM task_instances WHERE id = %s").format(_columns()), (ti_id,)
        )
        return await cur.fetchone()


async def list_task_instances(db: Database, run_uuid: UUID) -> list[TaskInstance]:
    """All task instances of a run, by task id and map index."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskInstance))
        await cur.execute(
            sql.SQL(
                "SELECT {} FROM task_instances WHERE run_uuid = %s ORDER BY task_id, map_index"
            ).format(_columns()),
            (run_uuid,),
        )
        return await cur.fetchall()


async def list_task_instance_tries(db: Database, ti_id: UUID) -> list[TaskInstanceTry]:
    """The archived (earlier) tries of a task instance, oldest first."""
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskInstanceTry))
        await cur.execute(
            sql.SQL(
                "SELECT id, task_instance_id, run_uuid, task_id, map_index, {}, archived_at "
                "FROM task_instance_history WHERE task_instance_id = %s ORDER BY try_number"
            ).format(sql.SQL(", ").join(map(sql.Identifier, TRY_COLUMNS))),
            (ti_id,),
        )
        return await cur.fetchall()


def _automatic_fields(target: TaskState) -> dict[str, sql.Composable]:
    """Dates the store sets itself on entering ``target`` (one clock: the database's)."""
    if target is TaskState.QUEUED:
        return {"queued_at": sql.SQL("now()")}
    if target is TaskState.RUNNING:
        # COALESCE keeps the first start of a try that resumes after deferral.
        return {
            "start_date": sql.SQL("COALESCE(start_date, now())"),
            "last_heartbeat_at": sql.SQL("now()"),
            "end_date": sql.NULL,
            "duration": sql.NULL,
        }
    if target in TASK_TERMINAL_STATES or target is TaskState.UP_FOR_RETRY:
        return {
            "end_date": sql.SQL("now()"),
            "duration": sql.SQL("EXTRACT(EPOCH FROM now() - start_date)::double precision"),
        }
    return {}


def _transition_query(target: TaskState, fields: Mapping[str, Any]) -> bytes:
    unknown = set(fields) - SETTABLE_FIELDS
    if unknown:
        raise ValueError(
            f"cannot set {sorted(unknown)} in a transition; settable: {sorted(SETTABLE_FIELDS)}"
        )
    return _rendered_transition(target, tuple(fields))


@functools.lru_cache(maxsize=512)
def _rendered_transition(target: TaskState, fields: tuple[str, ...]) -> bytes:
    """The statement of a transition, composed once per target and field set: every report
    of every try runs one of a handful of these, and composing costs more than sending it."""
    sets: dict[str, sql.Composable] = {"state": sql.Placeholder("to")}
    sets.update(_automatic_fields(target))
    sets.update({name: sql.Placeholder(f"f_{name}") for name in fields})
    return (
        sql.SQL(
            "UPDATE task_instances SET {sets} "
            "WHERE id = %(id)s AND try_number = %(try)s AND state = ANY(%(sources)s::text[]) "
            "RETURNING {columns}"
        )
        .format(
            sets=sql.SQL(", ").join(
                sql.SQL("{} = {}").format(sql.Identifier(name), value)
                for name, value in sets.items()
            ),
            columns=_columns(),
        )
        .as_bytes(None)
    )


async def _read_state(conn: Connection, ti_id: UUID) -> tuple[TaskState, int] | None:
    cur = await conn.execute("SELECT state, try_number FROM task_instances WHERE id = %s", (ti_id,))
    row = await cur.fetchone()
    return None if row is None else (TaskState(row[0]), int(row[1]))


Diagnose = Callable[[TaskState, int], TransitionRefusal | None]


async def _compare_and_set(
    conn: Connection,
    ti_id: UUID,
    target: TaskState | None,
    attempt: Callable[[], Awaitable[TaskInstance | None]],
    diagnose: Diagnose,
) -> TransitionResult:
    """Run a guarded write; when it did not apply, read the row once to say why.

    If the read shows the write would apply now, the row changed between the two statements
    (another writer moved it into a legal source state): the write is attempted again.
    """
    current: tuple[TaskState, int] | None = None
    for _ in range(_CAS_ATTEMPTS):
        row = await attempt()
        if row is not None:
            return TransitionResult(
                True, target, row, current_state=row.state, current_try=row.try_number
            )
        current = await _read_state(conn, ti_id)
        if current is None:
            return TransitionResult(False, target, refusal=TransitionRefusal.NOT_FOUND)
        refusal = diagnose(*current)
        if refusal is not None:
            return TransitionResult(
                False, target, refusal=refusal, current_state=current[0], current_try=current[1]
            )
    # Moved under us on every attempt: report what is there now; the caller may retry.
    return TransitionResult(
        False,
        target,
        refusal=TransitionRefusal.ILLEGAL_TRANSITION,
        current_state=current[0] if current else None,
        current_try=current[1] if current else None,
    )


async def transition_task_instance(
    db: Database,
    ti_id: UUID,
    to_state: TaskState,
    *,
    try_number: int,
    by_operator: bool = False,
    **fields: Any,
) -> TransitionResult:
    """Move the current try of a task instance to ``to_state``, if legal and still current.

    Guarded by the legal source states of ``to_state`` (system moves, plus operator moves when
    ``by_operator``) and by ``try_number``: a report for another try is refused as
    ``STALE_TRY``, a move the state machine forbids as ``ILLEGAL_TRANSITION``. ``fields`` may
    set any of :data:`SETTABLE_FIELDS` in the same statement (e.g. ``next_retry_at`` with
    ``up_for_retry``, ``executor_ref`` with ``queued``).
    """
    target = TaskState(to_state)
    query = _transition_query(target, fields)
    params: dict[str, Any] = {
        "to": target.value,
        "id": ti_id,
        "try": try_number,
        "sources": [s.value for s in legal_task_sources(target, by_operator=by_operator)],
    }
    for name, value in fields.items():
        json = name == "rendered_fields" and value is not None
        params[f"f_{name}"] = Jsonb(value) if json else value

    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskInstance))

        async def attempt() -> TaskInstance | None:
            await cur.execute(query, params)
            return await cur.fetchone()

        def diagnose(state: TaskState, current_try: int) -> TransitionRefusal | None:
            return check_task_transition(
                state, current_try, target, try_number, by_operator=by_operator
            )

        return await _compare_and_set(conn, ti_id, target, attempt, diagnose)


@functools.lru_cache(maxsize=1)
def _next_try_query() -> bytes:
    try_columns = sql.SQL(", ").join(map(sql.Identifier, TRY_COLUMNS))
    resets = sql.SQL(", ").join(
        [
            *(sql.SQL("{} = NULL").format(sql.Identifier(name)) for name in _PER_TRY_RESET),
            sql.SQL("dispatch_attempts = 0"),
        ]
    )
    return (
        sql.SQL(
            """
        WITH current_try AS (
            SELECT * FROM task_instances
            WHERE id = %(id)s AND try_number = %(try)s AND state = ANY(%(sources)s::text[])
            FOR UPDATE
        ), archived AS (
            INSERT INTO task_instance_history (task_instance_id, run_uuid, task_id, map_index,
                                               {try_columns})
            SELECT id, run_uuid, task_id, map_index, {try_columns} FROM current_try
            RETURNING task_instance_id
        )
        UPDATE task_instances t
        SET try_number = t.try_number + 1, state = COALESCE(%(to)s, t.state), {resets}
        FROM archived
        WHERE t.id = archived.task_instance_id AND t.try_number = %(try)s
        RETURNING {columns}
        """
        )
        .format(try_columns=try_columns, resets=resets, columns=_columns("t."))
        .as_bytes(None)
    )


async def start_next_try(
    db: Database,
    ti_id: UUID,
    expected_try: int,
    *,
    to_state: TaskState | None = None,
    by_operator: bool = False,
) -> TransitionResult:
    """Archive the current try into ``task_instance_history`` and start try ``expected_try + 1``.

    One statement, hence one transaction: the copy and the increment happen together or not at
    all. Guarded by ``expected_try`` (a second caller with the same expectation is refused as
    ``STALE_TRY``) and by the state: a new try never starts while the current one is active
    (queued, running, deferred). Per-try fields (dates, executor, host …) start empty.

    With ``to_state`` the new try also enters that state in the same statement (a retry:
    ``up_for_retry → scheduled``; a clear: ``success → none`` with ``by_operator``), so no
    crash can leave an incremented try in the old state.
    """
    target = TaskState(to_state) if to_state is not None else None
    allowed = (
        legal_task_sources(target, by_operator=by_operator) if target else frozenset(TaskState)
    )
    sources = allowed - TASK_ACTIVE_STATES
    params = {
        "id": ti_id,
        "try": expected_try,
        "to": target.value if target else None,
        "sources": [s.value for s in sources],
    }
    query = _next_try_query()
    async with single_statement(db) as conn:
        cur = conn.cursor(row_factory=class_row(TaskInstance))

        async def attempt() -> TaskInstance | None:
            await cur.execute(query, params)
            return await cur.fetchone()

        def diagnose(state: TaskState, current_try: int) -> TransitionRefusal | None:
            if current_try != expected_try:
                return TransitionRefusal.STALE_TRY
            if state not in sources:
                return TransitionRefusal.ILLEGAL_TRANSITION
            return None

        return await _compare_and_set(conn, ti_id, target, attempt, diagnose)


async def record_heartbeat(db: Database, ti_id: UUID, try_number: int) -> bool:
    """Note that the running try is alive; ``False`` if it is not the running current try.

    A ``False`` answer is what tells an agent to stop (``should_terminate``): its try was
    cleared, marked, or superseded.
    """
    async with single_statement(db) as conn:
        cur = await conn.execute(
            "UPDATE task_instances SET last_heartbeat_at = now() "
            "WHERE id = %s AND try_number = %s AND state = 'running' RETURNING id",
            (ti_id, try_number),
        )
        return await cur.fetchone() is not None
