"""TaskGroups of a compiled DAG.

``dag.json`` keeps no separate group structure: the compiler names a TaskGroup's members
``group.task`` (nested groups ``outer.inner.task``), as Airflow's default ``prefix_group_id``
does, so a group is the set of tasks whose id starts with its id and a dot.
"""

from __future__ import annotations

from collections.abc import Iterable

SEPARATOR = "."


def group_members(task_ids: Iterable[str], group_id: str) -> list[str]:
    """The tasks of ``group_id`` (its nested groups' included), in the order given."""
    prefix = group_id + SEPARATOR
    return [task_id for task_id in task_ids if group_id and task_id.startswith(prefix)]


def group_ids(task_ids: Iterable[str]) -> set[str]:
    """Every TaskGroup the tasks belong to, nested ones included (``a``, ``a.b`` …)."""
    groups: set[str] = set()
    for task_id in task_ids:
        parts = task_id.split(SEPARATOR)[:-1]
        groups.update(SEPARATOR.join(parts[: i + 1]) for i in range(len(parts)))
    return groups
