"""Airflow 2 path ``airflow.models``: DAG, BaseOperator, Param."""

from __future__ import annotations

from .._leoflow.baseoperator import BaseOperator
from .._leoflow.dag import DAG
from .._leoflow.params import Param
from .._leoflow.unsupported import module_getattr

__getattr__ = module_getattr(
    "airflow.models",
    {
        "Variable": "airflow.models.Variable at DAG definition time",
        "Connection": "airflow.models.Connection at DAG definition time",
    },
)

__all__ = ["DAG", "BaseOperator", "Param"]
