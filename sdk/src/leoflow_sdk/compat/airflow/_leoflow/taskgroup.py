"""``TaskGroup`` and ``@task_group``: flattened into ``group.task`` ids with the right edges.

A group only exists at definition time: its members are ordinary tasks whose ids carry the
group prefix, and an edge to or from a group becomes edges to its roots or from its leaves,
evaluated when the edge is written (as Airflow does).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import context
from .edges import DependencyMixin
from .errors import InvalidDagError

if TYPE_CHECKING:
    from .baseoperator import BaseOperator
    from .dag import DAG


class TaskGroup(DependencyMixin):
    """A named set of tasks; ``prefix_group_id`` controls the ``group.`` prefix of their ids."""

    def __init__(
        self,
        group_id: str,
        *,
        prefix_group_id: bool = True,
        parent_group: TaskGroup | None = None,
        dag: DAG | None = None,
        default_args: dict[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str = "",
        ui_fgcolor: str = "",
        add_suffix_on_collision: bool = False,
        group_display_name: str = "",
    ) -> None:
        owner = dag or (parent_group.dag if parent_group else context.current_dag())
        if owner is None:
            raise InvalidDagError(
                f"TaskGroup '{group_id}' is created outside of any DAG",
                "create it inside a `with DAG(...)` block or a @dag function",
            )
        self.dag: DAG = owner
        self.parent_group = parent_group or context.current_group(owner)
        self.prefix_group_id = prefix_group_id
        self.default_args = dict(default_args or {})
        self.tooltip = tooltip
        full_id = self.parent_group.child_id(group_id) if self.parent_group else group_id
        self.group_id = self._register(full_id, add_suffix_on_collision)
        self.tasks: list[BaseOperator] = []

    def _register(self, group_id: str, add_suffix: bool) -> str:
        taken = self.dag.group_ids
        if group_id in taken:
            if not add_suffix:
                raise InvalidDagError(
                    f"TaskGroup id '{group_id}' is used twice in DAG '{self.dag.dag_id}'",
                    "give every TaskGroup a unique group_id",
                )
            n = 1
            while f"{group_id}__{n}" in taken:
                n += 1
            group_id = f"{group_id}__{n}"
        taken.add(group_id)
        return group_id

    def child_id(self, label: str) -> str:
        """The full id of a member called ``label``."""
        return f"{self.group_id}.{label}" if self.prefix_group_id else label

    def merged_default_args(self) -> dict[str, Any]:
        """The group's ``default_args`` over its parents' ones."""
        merged = self.parent_group.merged_default_args() if self.parent_group else {}
        return {**merged, **self.default_args}

    def add(self, task: BaseOperator) -> None:
        """Record a member task (and in every enclosing group)."""
        self.tasks.append(task)
        if self.parent_group is not None:
            self.parent_group.add(task)

    def get_roots(self) -> list[BaseOperator]:
        """Members with no upstream inside the group."""
        ids = {task.task_id for task in self.tasks}
        return [t for t in self.tasks if not ids.intersection(t.upstream)]

    def get_leaves(self) -> list[BaseOperator]:
        """Members with no downstream inside the group."""
        ids = {task.task_id for task in self.tasks}
        return [t for t in self.tasks if not ids.intersection(t.downstream)]

    def __enter__(self) -> TaskGroup:
        context.group_stack.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context.group_stack.remove(self)

    def __iter__(self) -> Any:
        return iter(self.tasks)


def task_group(python_callable: Callable[..., Any] | None = None, **group_kwargs: Any) -> Any:
    """``@task_group`` / ``@task_group(group_id=…)``: each call builds one group."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def build(*args: Any, **kwargs: Any) -> Any:
            options = {"add_suffix_on_collision": True, **group_kwargs}
            options.setdefault("group_id", function.__name__)
            with TaskGroup(**options) as group:
                result = function(*args, **kwargs)
            return group if result is None else result

        return build

    if python_callable is not None:
        return decorate(python_callable)
    return decorate
