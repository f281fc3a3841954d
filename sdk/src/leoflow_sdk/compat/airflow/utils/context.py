"""``airflow.utils.context`` (Airflow 2): the ``Context`` type of task functions."""

from __future__ import annotations

from typing import Any

from .._leoflow.task_context import get_current_context

Context = dict[str, Any]
"""The task context a task function receives (a plain dict at run time)."""

__all__ = ["Context", "get_current_context"]
