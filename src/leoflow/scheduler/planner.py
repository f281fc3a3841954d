"""Plan one DAG run: which task instances move, and whether the run is finished.

Pure and synchronous: it reads a snapshot (the run's graph and its task instance states) and
returns the state moves to make. The loop around it applies each move as a guarded
compare-and-set, so a plan computed from a stale snapshot can never do harm: a move whose
source state changed in the meantime simply does not apply.

Moves cascade within one pass: tasks are visited in topological order against a working copy
of the states, so an ``upstream_failed`` runs down a whole chain, and an ``empty`` task that
succeeds unlocks its downstream tasks, in a single pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from graphlib import TopologicalSorter

from leoflow.scheduler.run_outcome import RunVerdict, decide_run_outcome
from leoflow.scheduler.trigger_rules import Readiness, TriggerRule, UpstreamCounts, evaluate
from leoflow.states import TaskState

EMPTY_TASK_TYPE = "empty"


@dataclass(frozen=True, slots=True)
class TaskNode:
    """What the planner needs to know about one task of the run's DAG version."""

    task_id: str
    task_type: str
    upstream: tuple[str, ...] = ()
    trigger_rule: TriggerRule = TriggerRule.ALL_SUCCESS


@dataclass(frozen=True)
class DagGraph:
    """The task graph of one DAG version, with its topological order, leaves and downstream
    edges precomputed (a version is immutable: built once, planned against many times)."""

    nodes: Mapping[str, TaskNode]
    order: tuple[str, ...]
    leaves: frozenset[str]
    downstream: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Direct downstream tasks of each task (tasks without any are absent)."""
    position: Mapping[str, int] = field(default_factory=dict)
    """Index of each task in :attr:`order`."""

    @classmethod
    def build(cls, nodes: Iterable[TaskNode]) -> DagGraph:
        by_id = {node.task_id: node for node in nodes}
        sorter: TopologicalSorter[str] = TopologicalSorter(
            {tid: node.upstream for tid, node in by_id.items()}
        )
        order = tuple(sorter.static_order())
        downstream: dict[str, list[str]] = {}
        for node in by_id.values():
            for up in node.upstream:
                downstream.setdefault(up, []).append(node.task_id)
        return cls(
            nodes=by_id,
            order=order,
            leaves=frozenset(set(by_id) - set(downstream)),
            downstream={tid: tuple(down) for tid, down in downstream.items()},
            position={tid: index for index, tid in enumerate(order)},
        )


@dataclass(frozen=True, slots=True)
class TaskInstanceView:
    """The part of a task instance row the planner reads."""

    task_id: str
    state: TaskState
    try_number: int
    next_retry_at: datetime | None = None


class MoveKind(StrEnum):
    """Why a task instance moves."""

    SCHEDULE = "schedule"
    RETRY = "retry"
    COMPLETE_EMPTY = "complete_empty"
    SKIP = "skip"
    UPSTREAM_FAILED = "upstream_failed"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class Move:
    """One guarded state write: ``task_id`` from ``source`` to ``target`` at ``try_number``."""

    kind: MoveKind
    task_id: str
    source: TaskState
    target: TaskState
    try_number: int


@dataclass
class RunPlan:
    """The moves for one run and the run's verdict once those moves are applied."""

    moves: list[Move] = field(default_factory=list)
    verdict: RunVerdict = RunVerdict.RUNNING


_READINESS_MOVES: dict[Readiness, tuple[MoveKind, TaskState]] = {
    Readiness.READY: (MoveKind.SCHEDULE, TaskState.SCHEDULED),
    Readiness.SKIP: (MoveKind.SKIP, TaskState.SKIPPED),
    Readiness.UPSTREAM_FAILED: (MoveKind.UPSTREAM_FAILED, TaskState.UPSTREAM_FAILED),
}


def plan_task(
    node: TaskNode, ti: TaskInstanceView, working: Mapping[str, TaskState], now: datetime
) -> Move | None:
    """The move of one task instance given the working states of its upstream tasks, if any.

    Upstream tasks absent from ``working`` (no task instance) do not count, as in Airflow.
    """
    if ti.state is TaskState.UP_FOR_RETRY:
        if ti.next_retry_at is None or ti.next_retry_at <= now:
            return Move(MoveKind.RETRY, ti.task_id, ti.state, TaskState.SCHEDULED, ti.try_number)
        return None
    if ti.state is not TaskState.NONE:
        return None
    counts = UpstreamCounts.of(working[up] for up in node.upstream if up in working)
    readiness = evaluate(node.trigger_rule, counts)
    if readiness is Readiness.WAIT:
        return None
    kind, target = _READINESS_MOVES[readiness]
    if kind is MoveKind.SCHEDULE and node.task_type == EMPTY_TASK_TYPE:
        kind, target = MoveKind.COMPLETE_EMPTY, TaskState.SUCCESS
    return Move(kind, ti.task_id, ti.state, target, ti.try_number)


def plan_run(
    graph: DagGraph, task_instances: Mapping[str, TaskInstanceView], now: datetime
) -> RunPlan:
    """Decide every move for one running DAG run from a snapshot of its task instances."""
    plan = RunPlan()
    working = {tid: ti.state for tid, ti in task_instances.items()}
    for tid, ti in task_instances.items():
        if tid not in graph.nodes and ti.state is not TaskState.REMOVED:
            plan.moves.append(
                Move(MoveKind.REMOVE, tid, ti.state, TaskState.REMOVED, ti.try_number)
            )
            working[tid] = TaskState.REMOVED
    for tid in graph.order:
        current = task_instances.get(tid)
        if current is None:
            continue
        move = plan_task(graph.nodes[tid], current, working, now)
        if move is not None:
            plan.moves.append(move)
            working[tid] = move.target
    plan.verdict = decide_run_outcome(working, graph.leaves)
    return plan
