"""Planning runs from the tasks that changed: what an event pass of the scheduler does.

A state report names its task (see :mod:`leoflow.scheduler.wakeup`). For a run whose changes
are all named, the pass reads only the task instances the change planner asks for (the changed
tasks, their downstream tasks and those tasks' upstream tasks, then whatever a cascade reaches)
plus, in the same statement, whether any *other* task instance of the run is still unsettled.
The cost of a pass therefore follows the changed tasks' neighbourhood, not the run's width.

When nothing of the run is left unsettled, the caller plans the run in full once more: the
verdict (success or failed, by its leaves) is always decided by the full planner, on a complete
snapshot. A run whose plan needs more than :data:`MAX_LOAD_ROUNDS` reads (a long cascade), or
names a task its version does not have, is planned in full as well, and so is a run that
changed since the caller read it. (The caller plans small runs in full anyway: one read serves
every run a pass plans in full, and reading a few dozen rows costs no more than a few.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from leoflow.scheduler.change_planner import ChangePlan, plan_changes, tasks_to_load
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.scheduler.planner import DagGraph, Move, MoveKind, TaskInstanceView
from leoflow.states import TASK_TERMINAL_STATES, TaskState, can_transition_task
from leoflow.store.pool import Database
from leoflow.store.scheduling import ActiveRun, TaskInstanceState, load_task_states

MAX_LOAD_ROUNDS = 4
"""Reads one partial plan may make before the run is planned in full instead."""

_HELD_WHILE_PAUSED = frozenset({MoveKind.SCHEDULE, MoveKind.RETRY, MoveKind.COMPLETE_EMPTY})


def admissible_moves(is_paused: bool, planned: Iterable[Move]) -> tuple[list[Move], list[Move]]:
    """The planned moves to make now: ``(state moves, retries)``.

    A paused DAG starts nothing (no scheduling, retry or ``empty`` completion); a move the state
    machine forbids is never attempted.
    """
    moves: list[Move] = []
    retries: list[Move] = []
    for move in planned:
        if is_paused and move.kind in _HELD_WHILE_PAUSED:
            continue
        if move.kind is MoveKind.RETRY:
            retries.append(move)
        elif can_transition_task(move.source, move.target):
            moves.append(move)
    return moves, retries


@dataclass
class PartialPlan:
    """The outcome of planning one run from its changed tasks."""

    run: ActiveRun
    moves: list[Move] = field(default_factory=list)
    retries: list[Move] = field(default_factory=list)
    ids: dict[str, UUID] = field(default_factory=dict)
    """Task id → task instance id, for the task instances read."""
    may_be_finished: bool = False
    """No task instance of the run is unsettled once these moves apply: plan it in full for
    its verdict."""
    needs_full_plan: bool = False
    """The partial plan could not be completed, or the run is no longer as given: read the run
    again and plan it in full instead."""


def _views(rows: Mapping[str, TaskInstanceState]) -> dict[str, TaskInstanceView]:
    return {
        tid: TaskInstanceView(tid, row.state, row.try_number, row.next_retry_at)
        for tid, row in rows.items()
    }


def _outcome(
    run: ActiveRun,
    plan: ChangePlan,
    rows: Mapping[str, TaskInstanceState],
    unsettled_elsewhere: bool,
) -> PartialPlan:
    if plan.unknown:
        return PartialPlan(run, needs_full_plan=True)
    moves, retries = admissible_moves(run.is_paused, plan.moves)
    held = len(moves) + len(retries) != len(plan.moves)
    states: dict[str, TaskState] = {tid: row.state for tid, row in rows.items()}
    for move in (*moves, *retries):
        states[move.task_id] = move.target
    settled = all(state in TASK_TERMINAL_STATES for state in states.values())
    return PartialPlan(
        run,
        moves,
        retries,
        ids={tid: row.id for tid, row in rows.items()},
        may_be_finished=settled and not held and not unsettled_elsewhere,
    )


async def plan_run_changes(
    db: Database, graph: DagGraph, run: ActiveRun, changed: frozenset[str], now: datetime
) -> PartialPlan:
    """Plan one run from its changed tasks, reading only the task instances that decide their
    moves: one statement, plus one per cascade level that reaches tasks not read yet. The same
    statement checks that ``run`` (possibly as read by an earlier pass) has not changed."""
    rows: dict[str, TaskInstanceState] = {}
    looked: set[str] = set()
    wanted = tasks_to_load(graph, changed)
    for _ in range(MAX_LOAD_ROUNDS):
        looked.update(wanted)
        snapshot = await load_task_states(db, run, wanted, looked)
        if not snapshot.run_unchanged:
            return PartialPlan(run, needs_full_plan=True)  # finished, re-bound, (un)paused
        rows.update((row.task_id, row) for row in snapshot.rows)
        plan = plan_changes(graph, changed, _views(rows), now, loaded=looked)
        if not plan.missing:
            return _outcome(run, plan, rows, snapshot.unsettled_elsewhere)
        wanted = set(plan.missing)
    return PartialPlan(run, needs_full_plan=True)


async def plan_partially(
    db: Database,
    catalog: DagCatalog,
    runs: Sequence[ActiveRun],
    changed: Mapping[UUID, frozenset[str]],
    now: datetime,
) -> list[PartialPlan]:
    """Plan each run from its changed tasks (``changed[run.id]``); a run without named changes
    is returned as needing a full plan."""
    plans: list[PartialPlan] = []
    for run in runs:
        tasks = changed.get(run.id)
        if not tasks:
            plans.append(PartialPlan(run, needs_full_plan=True))
            continue
        graph = (await catalog.get(run.dag_version_id)).graph
        plans.append(await plan_run_changes(db, graph, run, tasks, now))
    return plans
