"""Plan what follows from a few task instances changing, without reading the whole run.

The full planner (:func:`~leoflow.scheduler.planner.plan_run`) looks at every task instance of a
run. After a state report only a handful can move: the task that changed (a failed try due for
a retry at once) and its downstream tasks (their trigger rules see a new upstream state), then,
through a cascade, the downstream tasks of any of those that settle in the same pass
(``skipped``, ``upstream_failed``, an ``empty`` task completed). :func:`plan_changes` evaluates
exactly those, in topological order, with the same per-task rule as the full planner, so on a
run whose earlier plans were all applied it decides the same moves as a full plan would, while
reading a number of rows that depends on the changed tasks' neighbourhood, not on the run's
width.

It is pure: it reads the task instances it is given and says which others it needs
(:attr:`ChangePlan.missing`); the caller loads those and asks again. Everything time-driven (a
retry coming due later) and anything not announced as a change is left to the periodic full
pass, which still plans every run that changed.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from leoflow.scheduler.planner import DagGraph, Move, TaskInstanceView, plan_task
from leoflow.states import TASK_TERMINAL_STATES, TaskState


@dataclass(frozen=True)
class ChangePlan:
    """The moves following from a change, or what must be loaded before deciding them."""

    moves: list[Move] = field(default_factory=list)
    missing: frozenset[str] = frozenset()
    """Task ids whose task instance is needed and was not looked up: load them and plan again
    (``moves`` is incomplete until this is empty)."""
    unknown: frozenset[str] = frozenset()
    """Changed task ids that are not in the graph (a task gone from the run's version): only a
    full plan (which removes them) handles those."""


def tasks_to_load(graph: DagGraph, changed: Iterable[str]) -> set[str]:
    """The task instances a change plan reads at first: the changed tasks, their downstream
    tasks, and the upstream tasks of both (what their trigger rules count)."""
    affected: set[str] = set()
    for tid in changed:
        affected.add(tid)
        affected.update(graph.downstream.get(tid, ()))
    wanted = set(affected)
    for tid in affected:
        node = graph.nodes.get(tid)
        if node is not None:
            wanted.update(node.upstream)
    return wanted


def plan_changes(
    graph: DagGraph,
    changed: Iterable[str],
    task_instances: Mapping[str, TaskInstanceView],
    now: datetime,
    *,
    loaded: Collection[str] | None = None,
) -> ChangePlan:
    """The moves that follow from ``changed`` tasks having changed state.

    ``task_instances`` holds the rows looked up so far; ``loaded`` the task ids looked up
    (default: the keys of ``task_instances``), so an id looked up without a row means "no task
    instance" (it does not count for trigger rules, as in the full planner) rather than
    "unknown". Moves cascade: a task that settles here puts its downstream tasks up for
    evaluation in the same plan.
    """
    looked_up = set(task_instances) if loaded is None else set(loaded)
    working = {tid: ti.state for tid, ti in task_instances.items()}
    heap: list[tuple[int, str]] = []
    queued: set[str] = set()

    def push(tid: str) -> None:
        if tid not in queued:
            queued.add(tid)
            heapq.heappush(heap, (graph.position[tid], tid))

    changed_ids = set(changed)
    unknown = frozenset(tid for tid in changed_ids if tid not in graph.nodes)
    for tid in changed_ids - unknown:
        push(tid)
        for down in graph.downstream.get(tid, ()):
            push(down)
    moves: list[Move] = []
    missing: set[str] = set()
    while heap:
        _, tid = heapq.heappop(heap)
        if tid not in looked_up:
            missing.add(tid)
            continue
        current = task_instances.get(tid)
        if current is None:
            continue
        node = graph.nodes[tid]
        if current.state is TaskState.NONE:
            need = [up for up in node.upstream if up not in looked_up]
            if need:
                missing.update(need)
                continue
        move = plan_task(node, current, working, now)
        if move is None:
            continue
        moves.append(move)
        working[tid] = move.target
        if move.target in TASK_TERMINAL_STATES:
            for down in graph.downstream.get(tid, ()):
                push(down)
    return ChangePlan(moves, frozenset(missing), unknown)
