"""Executors: how a queued task instance try becomes a running process or pod.

The scheduler only knows the ``Executor`` protocol; the router picks one per task.
"""

from leoflow.executors.base import Executor, ExecutorRefused, TaskLaunch

__all__ = ["Executor", "ExecutorRefused", "TaskLaunch"]
