"""Airflow 2 path of the TaskFlow decorators (``airflow.decorators``)."""

from __future__ import annotations

from .._leoflow.taskflow import dag, task
from .._leoflow.taskgroup import task_group
from .._leoflow.unsupported import module_getattr

__getattr__ = module_getattr(
    "airflow.decorators",
    {"setup": "setup/teardown tasks", "teardown": "setup/teardown tasks"},
)

__all__ = ["dag", "task", "task_group"]
