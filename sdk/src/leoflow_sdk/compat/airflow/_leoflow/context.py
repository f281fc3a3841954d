"""What is being defined right now: the open DAG and TaskGroup blocks, and every DAG made.

Airflow keeps the same state in ``DagContext``/``TaskGroupContext``; tasks created inside a
``with DAG(...)`` block or a ``@dag`` function attach themselves to the innermost one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .dag import DAG
    from .taskgroup import TaskGroup

dag_stack: list[DAG] = []
group_stack: list[TaskGroup] = []
created_dags: list[DAG] = []

checking = True
"""Whether definitions are checked as the compiler needs them (the default).

The runtime re-imports a DAG file that the compiler has already imported and checked, only to
find one task's callable and objects again; it turns this off first (``rebuilding()``), so
that what only a compile needs is skipped: the user's file and line of every task (kept for
``dag.json`` and error messages), the JSON check and size limit of literal arguments, and the
DAG-level field check. Ids, edges, callables and every error raised anyway stay the same."""

RUNTIME_LOCATION = ("<rebuilt at run time>", 0)
"""The ``location`` of DAGs and tasks defined while ``checking`` is off."""


def rebuilding() -> None:
    """Mark this process as the runtime of a compiled DAG (see ``checking``); for good."""
    global checking  # noqa: PLW0603 - one switch per process, set before the DAG import
    checking = False


def current_dag() -> DAG | None:
    """The innermost open DAG, if any."""
    return dag_stack[-1] if dag_stack else None


def current_group(dag: DAG) -> TaskGroup | None:
    """The innermost open TaskGroup that belongs to ``dag``, if any."""
    for group in reversed(group_stack):
        if group.dag is dag:
            return group
    return None
