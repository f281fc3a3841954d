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


def current_dag() -> DAG | None:
    """The innermost open DAG, if any."""
    return dag_stack[-1] if dag_stack else None


def current_group(dag: DAG) -> TaskGroup | None:
    """The innermost open TaskGroup that belongs to ``dag``, if any."""
    for group in reversed(group_stack):
        if group.dag is dag:
            return group
    return None
