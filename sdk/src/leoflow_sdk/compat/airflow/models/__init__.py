"""Airflow 2 path ``airflow.models``: DAG, BaseOperator, Param, Variable, Connection."""

from __future__ import annotations

from .._leoflow.baseoperator import BaseOperator
from .._leoflow.connections import Connection
from .._leoflow.dag import DAG
from .._leoflow.params import Param
from .._leoflow.unsupported import module_getattr
from .._leoflow.variables import Variable

__getattr__ = module_getattr("airflow.models", {})

__all__ = ["DAG", "BaseOperator", "Connection", "Param", "Variable"]
