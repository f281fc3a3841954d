"""Airflow 3's authoring interface (``airflow.sdk``) as Leoflow compiles it."""

from __future__ import annotations

from .._leoflow.baseoperator import BaseOperator, XComArg, chain, cross_downstream
from .._leoflow.dag import DAG
from .._leoflow.params import Param
from .._leoflow.taskflow import dag, task
from .._leoflow.taskgroup import TaskGroup, task_group
from .._leoflow.trigger_rule import TriggerRule
from .._leoflow.unsupported import module_getattr

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
        "get_current_context": "get_current_context() at DAG definition time",
    },
)

__all__ = [
    "DAG",
    "BaseOperator",
    "Param",
    "TaskGroup",
    "TriggerRule",
    "XComArg",
    "chain",
    "cross_downstream",
    "dag",
    "task",
    "task_group",
]
