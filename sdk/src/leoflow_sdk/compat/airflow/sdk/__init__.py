"""Airflow 3's authoring interface (``airflow.sdk``) as Leoflow compiles and runs it."""

from __future__ import annotations

from typing import Any

from .._leoflow.baseoperator import BaseOperator, XComArg, chain, cross_downstream
from .._leoflow.connections import BaseHook, Connection
from .._leoflow.dag import DAG
from .._leoflow.params import Param
from .._leoflow.task_context import get_current_context
from .._leoflow.taskflow import dag, task
from .._leoflow.taskgroup import TaskGroup, task_group
from .._leoflow.trigger_rule import TriggerRule
from .._leoflow.unsupported import module_getattr
from .._leoflow.variables import Variable

Context = dict[str, Any]
"""The task context a TaskFlow function receives (a plain dict at run time)."""

__getattr__ = module_getattr(
    "airflow.sdk",
    {
        "Asset": "asset/dataset schedules (Asset)",
        "AssetAlias": "asset/dataset schedules (AssetAlias)",
        "AssetAll": "asset/dataset schedules (AssetAll)",
        "AssetAny": "asset/dataset schedules (AssetAny)",
        "Dataset": "asset/dataset schedules (Dataset)",
        "Label": "edge labels (Label)",
        "BaseSensorOperator": "sensors (BaseSensorOperator)",
        "PokeReturnValue": "sensors (PokeReturnValue)",
        "setup": "setup/teardown tasks",
        "teardown": "setup/teardown tasks",
    },
)

__all__ = [
    "DAG",
    "BaseHook",
    "BaseOperator",
    "Connection",
    "Context",
    "Param",
    "TaskGroup",
    "TriggerRule",
    "Variable",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "get_current_context",
    "task",
    "task_group",
]
