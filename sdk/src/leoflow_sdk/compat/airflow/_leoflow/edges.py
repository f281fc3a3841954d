"""Dependency edges between tasks, task groups, task results and lists of them.

Airflow resolves ``a >> group`` at the moment of the call: the edge goes to the group's current
roots (or from its current leaves). The same happens here, so the recorded graph matches what
Airflow would build from the same file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import InvalidDagError

if TYPE_CHECKING:
    from .baseoperator import BaseOperator


def _expand(node: Any, side: str) -> list[BaseOperator]:
    from .baseoperator import BaseOperator, XComArg
    from .taskgroup import TaskGroup

    if isinstance(node, BaseOperator):
        return [node]
    if isinstance(node, XComArg):
        return [node.operator]
    if isinstance(node, TaskGroup):
        return node.get_roots() if side == "roots" else node.get_leaves()
    if isinstance(node, Iterable) and not isinstance(node, (str, bytes, dict)):
        return [task for item in node for task in _expand(item, side)]
    raise InvalidDagError(
        f"cannot set a dependency on a {type(node).__name__}",
        "use tasks, task results, TaskGroups or lists of them on either side of >> and <<",
    )


def leaves(node: Any) -> list[BaseOperator]:
    """The tasks an edge leaves from when ``node`` is upstream."""
    return _expand(node, "leaves")


def roots(node: Any) -> list[BaseOperator]:
    """The tasks an edge arrives at when ``node`` is downstream."""
    return _expand(node, "roots")


def link(upstream: Any, downstream: Any) -> None:
    """Make every task of ``downstream`` wait for every task of ``upstream``."""
    for down in roots(downstream):
        for up in leaves(upstream):
            down.add_upstream(up)


class DependencyMixin:
    """``>>``, ``<<``, ``set_upstream`` and ``set_downstream`` with Airflow's return values."""

    def set_downstream(self, other: Any) -> None:
        """Make ``other`` run after this."""
        link(self, other)

    def set_upstream(self, other: Any) -> None:
        """Make this run after ``other``."""
        link(other, self)

    def __rshift__(self, other: Any) -> Any:
        link(self, other)
        return other

    def __lshift__(self, other: Any) -> Any:
        link(other, self)
        return other

    def __rrshift__(self, other: Any) -> Any:
        link(other, self)
        return self

    def __rlshift__(self, other: Any) -> Any:
        link(self, other)
        return self
