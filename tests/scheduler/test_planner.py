"""The pure run planner: cascades, empty tasks, retries due, removal and the run verdict."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from leoflow.scheduler.planner import (
    DagGraph,
    MoveKind,
    TaskInstanceView,
    TaskNode,
    plan_run,
)
from leoflow.scheduler.run_outcome import RunVerdict
from leoflow.scheduler.trigger_rules import TriggerRule
from leoflow.states import TaskState as T

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def chain(*ids: str, task_type: str = "python") -> DagGraph:
    nodes = [
        TaskNode(tid, task_type, upstream=(ids[i - 1],) if i else ()) for i, tid in enumerate(ids)
    ]
    return DagGraph.build(nodes)


def tis(**states: T) -> dict[str, TaskInstanceView]:
    return {tid: TaskInstanceView(tid, state, 1) for tid, state in states.items()}


def targets(plan_moves: list) -> dict[str, T]:  # type: ignore[type-arg]
    return {m.task_id: m.target for m in plan_moves}


def test_fresh_chain_schedules_only_the_root() -> None:
    plan = plan_run(chain("a", "b", "c"), tis(a=T.NONE, b=T.NONE, c=T.NONE), NOW)
    assert targets(plan.moves) == {"a": T.SCHEDULED}
    assert plan.verdict is RunVerdict.RUNNING


def test_success_unlocks_the_next_task() -> None:
    plan = plan_run(chain("a", "b", "c"), tis(a=T.SUCCESS, b=T.NONE, c=T.NONE), NOW)
    assert targets(plan.moves) == {"b": T.SCHEDULED}


def test_upstream_failed_cascades_down_the_chain_in_one_pass() -> None:
    plan = plan_run(chain("a", "b", "c", "d"), tis(a=T.FAILED, b=T.NONE, c=T.NONE, d=T.NONE), NOW)
    assert targets(plan.moves) == {
        "b": T.UPSTREAM_FAILED,
        "c": T.UPSTREAM_FAILED,
        "d": T.UPSTREAM_FAILED,
    }
    assert plan.verdict is RunVerdict.FAILED


def test_empty_tasks_complete_in_the_scheduler_and_unlock_downstream() -> None:
    graph = DagGraph.build(
        [
            TaskNode("start", "empty"),
            TaskNode("work", "python", upstream=("start",)),
            TaskNode("end", "empty", upstream=("work",)),
        ]
    )
    plan = plan_run(graph, tis(start=T.NONE, work=T.NONE, end=T.NONE), NOW)
    assert [(m.kind, m.task_id) for m in plan.moves] == [
        (MoveKind.COMPLETE_EMPTY, "start"),
        (MoveKind.SCHEDULE, "work"),
    ]
    done = plan_run(graph, tis(start=T.SUCCESS, work=T.SUCCESS, end=T.NONE), NOW)
    assert targets(done.moves) == {"end": T.SUCCESS}
    assert done.verdict is RunVerdict.SUCCESS


def test_fan_in_waits_for_every_branch() -> None:
    branches = [TaskNode(f"map_{i}", "python") for i in range(5)]
    reducer = TaskNode("reduce", "python", upstream=tuple(b.task_id for b in branches))
    graph = DagGraph.build([*branches, reducer])
    states = {f"map_{i}": T.SUCCESS for i in range(4)} | {"map_4": T.RUNNING, "reduce": T.NONE}
    assert plan_run(graph, tis(**states), NOW).moves == []
    states["map_4"] = T.SUCCESS
    assert targets(plan_run(graph, tis(**states), NOW).moves) == {"reduce": T.SCHEDULED}


def test_retry_is_scheduled_only_when_due() -> None:
    graph = chain("a")
    later = {"a": TaskInstanceView("a", T.UP_FOR_RETRY, 1, NOW + timedelta(seconds=5))}
    assert plan_run(graph, later, NOW).moves == []
    due = {"a": TaskInstanceView("a", T.UP_FOR_RETRY, 1, NOW - timedelta(seconds=1))}
    [move] = plan_run(graph, due, NOW).moves
    assert (move.kind, move.target, move.try_number) == (MoveKind.RETRY, T.SCHEDULED, 1)


def test_all_done_cleanup_runs_after_a_failure_and_the_run_succeeds() -> None:
    graph = DagGraph.build(
        [TaskNode("work", "python"), TaskNode("cleanup", "bash", ("work",), TriggerRule.ALL_DONE)]
    )
    assert targets(plan_run(graph, tis(work=T.FAILED, cleanup=T.NONE), NOW).moves) == {
        "cleanup": T.SCHEDULED
    }
    assert plan_run(graph, tis(work=T.FAILED, cleanup=T.SUCCESS), NOW).verdict is RunVerdict.SUCCESS


def test_task_gone_from_the_version_is_removed() -> None:
    plan = plan_run(chain("a"), tis(a=T.SUCCESS, old=T.NONE), NOW)
    assert targets(plan.moves) == {"old": T.REMOVED}
    assert plan.verdict is RunVerdict.SUCCESS


def test_settled_run_gets_its_verdict_without_moves() -> None:
    plan = plan_run(chain("a", "b"), tis(a=T.SUCCESS, b=T.SUCCESS), NOW)
    assert plan.moves == [] and plan.verdict is RunVerdict.SUCCESS
