"""The change planner: planning from the tasks that changed decides what a full plan decides.

The property test builds random DAGs (any trigger rule, ``empty`` tasks, fan-in and fan-out),
brings each run to a stable state by applying full plans, lets random task instances end in
random ways, and checks that planning from those changes alone — reading only the rows the
change planner asks for, round after round — yields exactly the full planner's moves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from leoflow.scheduler.change_planner import ChangePlan, plan_changes, tasks_to_load
from leoflow.scheduler.planner import DagGraph, Move, MoveKind, TaskInstanceView, TaskNode, plan_run
from leoflow.scheduler.trigger_rules import TriggerRule
from leoflow.states import TaskState as T

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def views(**states: T) -> dict[str, TaskInstanceView]:
    return {tid: TaskInstanceView(tid, state, 1) for tid, state in states.items()}


def moved(plan: ChangePlan) -> dict[str, T]:
    return {m.task_id: m.target for m in plan.moves}


def test_a_success_schedules_its_downstream_task_only() -> None:
    graph = DagGraph.build(
        [TaskNode("a", "python"), TaskNode("b", "python", ("a",)), TaskNode("c", "python")]
    )
    assert tasks_to_load(graph, ["a"]) == {"a", "b"}
    plan = plan_changes(graph, ["a"], views(a=T.SUCCESS, b=T.NONE), NOW)
    assert moved(plan) == {"b": T.SCHEDULED}
    assert plan.missing == frozenset()


def test_a_leaf_that_ends_needs_only_its_own_row() -> None:
    graph = DagGraph.build([TaskNode(f"t{i}", "python") for i in range(1000)])
    assert tasks_to_load(graph, ["t7"]) == {"t7"}
    assert plan_changes(graph, ["t7"], views(t7=T.SUCCESS), NOW).moves == []


def test_the_upstream_tasks_of_a_downstream_task_are_read_too() -> None:
    graph = DagGraph.build(
        [TaskNode("a", "python"), TaskNode("b", "python"), TaskNode("join", "python", ("a", "b"))]
    )
    assert tasks_to_load(graph, ["a"]) == {"a", "join", "b"}
    waiting = plan_changes(graph, ["a"], views(a=T.SUCCESS, b=T.RUNNING, join=T.NONE), NOW)
    assert waiting.moves == []
    ready = plan_changes(graph, ["a"], views(a=T.SUCCESS, b=T.SUCCESS, join=T.NONE), NOW)
    assert moved(ready) == {"join": T.SCHEDULED}


def test_an_unread_upstream_task_is_asked_for_before_deciding() -> None:
    graph = DagGraph.build(
        [TaskNode("a", "python"), TaskNode("b", "python"), TaskNode("join", "python", ("a", "b"))]
    )
    plan = plan_changes(graph, ["a"], views(a=T.SUCCESS, join=T.NONE), NOW)
    assert plan.missing == {"b"} and plan.moves == []
    gone = plan_changes(
        graph, ["a"], views(a=T.SUCCESS, join=T.NONE), NOW, loaded={"a", "b", "join"}
    )
    assert moved(gone) == {"join": T.SCHEDULED}  # looked up, no row: it does not count


def test_a_cascade_asks_for_the_next_level() -> None:
    graph = DagGraph.build(
        [
            TaskNode("a", "python"),
            TaskNode("b", "python", ("a",)),
            TaskNode("c", "python", ("b",)),
            TaskNode("d", "empty", ("c",), TriggerRule.ALL_DONE),
            TaskNode("e", "python", ("d",)),
        ]
    )
    first = plan_changes(graph, ["a"], views(a=T.FAILED, b=T.NONE), NOW)
    assert moved(first) == {"b": T.UPSTREAM_FAILED} and first.missing == {"c"}
    rows = views(a=T.FAILED, b=T.NONE, c=T.NONE, d=T.NONE, e=T.NONE)
    full = plan_changes(graph, ["a"], rows, NOW)
    assert [(m.task_id, m.target) for m in full.moves] == [
        ("b", T.UPSTREAM_FAILED),
        ("c", T.UPSTREAM_FAILED),
        ("d", T.SUCCESS),  # an empty all_done task completes, and unlocks its downstream
        ("e", T.SCHEDULED),
    ]
    assert [m.task_id for m in full.moves] == [m.task_id for m in plan_run(graph, rows, NOW).moves]


def test_a_failed_try_due_for_retry_is_retried() -> None:
    graph = DagGraph.build([TaskNode("a", "python"), TaskNode("b", "python", ("a",))])
    due = {"a": TaskInstanceView("a", T.UP_FOR_RETRY, 1, NOW - timedelta(seconds=1))}
    plan = plan_changes(graph, ["a"], {**due, **views(b=T.NONE)}, NOW)
    assert [(m.kind, m.task_id) for m in plan.moves] == [(MoveKind.RETRY, "a")]
    later = {"a": TaskInstanceView("a", T.UP_FOR_RETRY, 1, NOW + timedelta(seconds=5))}
    assert plan_changes(graph, ["a"], {**later, **views(b=T.NONE)}, NOW).moves == []


def test_a_changed_task_the_version_does_not_have_needs_a_full_plan() -> None:
    graph = DagGraph.build([TaskNode("a", "python")])
    plan = plan_changes(graph, ["gone"], views(gone=T.SUCCESS), NOW)
    assert plan.unknown == {"gone"} and plan.moves == []


# --- the property: same moves as the full planner -----------------------------------------

_RULES = list(TriggerRule)
_ENDINGS = [T.SUCCESS, T.FAILED, T.SKIPPED, T.UP_FOR_RETRY]


@st.composite
def dags(draw: st.DrawFn) -> DagGraph:
    size = draw(st.integers(1, 14))
    nodes = []
    for i in range(size):
        upstream = draw(st.sets(st.integers(0, i - 1), max_size=4)) if i else set()
        nodes.append(
            TaskNode(
                f"t{i}",
                draw(st.sampled_from(["python", "python", "empty"])),
                tuple(f"t{u}" for u in sorted(upstream)),
                draw(st.sampled_from(_RULES)),
            )
        )
    return DagGraph.build(nodes)


def _apply(rows: dict[str, TaskInstanceView], moves: list[Move]) -> None:
    for move in moves:
        row = rows[move.task_id]
        number = row.try_number + 1 if move.kind is MoveKind.RETRY else row.try_number
        rows[move.task_id] = TaskInstanceView(move.task_id, move.target, number)


def _settle(graph: DagGraph, rows: dict[str, TaskInstanceView]) -> None:
    """Apply full plans until nothing moves (what the scheduler's passes converge to)."""
    while moves := plan_run(graph, rows, NOW).moves:
        _apply(rows, moves)


def _plan_by_reading(
    graph: DagGraph, changed: set[str], table: Mapping[str, TaskInstanceView]
) -> tuple[ChangePlan, set[str]]:
    """What the scheduler does: read what the change planner asks for until it asks no more."""
    loaded: set[str] = set()
    wanted = tasks_to_load(graph, changed)
    while True:
        loaded |= wanted
        known = {tid: table[tid] for tid in loaded if tid in table}
        plan = plan_changes(graph, changed, known, NOW, loaded=loaded)
        if not plan.missing:
            return plan, loaded
        assert not plan.missing & loaded, "asked again for a row it already has"
        wanted = set(plan.missing)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), graph=dags())
def test_planning_from_changes_decides_what_a_full_plan_decides(
    data: st.DataObject, graph: DagGraph
) -> None:
    rows = {tid: TaskInstanceView(tid, T.NONE, 1) for tid in graph.nodes}
    for _ in range(data.draw(st.integers(1, 6))):
        _settle(graph, rows)
        active = sorted(tid for tid, row in rows.items() if row.state is T.SCHEDULED)
        if not active:
            break
        ending = data.draw(st.sets(st.sampled_from(active), min_size=1))
        for tid in ending:
            state = data.draw(st.sampled_from(_ENDINGS))
            due = data.draw(st.sampled_from([None, NOW - timedelta(1), NOW + timedelta(1)]))
            retry_at = due if state is T.UP_FOR_RETRY else None
            rows[tid] = TaskInstanceView(tid, state, rows[tid].try_number, retry_at)
        plan, loaded = _plan_by_reading(graph, ending, rows)
        full = plan_run(graph, rows, NOW)
        assert plan.moves == full.moves
        assert len(loaded) <= len(graph.nodes)
        _apply(rows, plan.moves)
