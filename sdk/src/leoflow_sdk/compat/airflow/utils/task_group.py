"""``airflow.utils.task_group``: TaskGroup."""

from __future__ import annotations

from .._leoflow.taskgroup import TaskGroup

__all__ = ["TaskGroup"]
