"""Airflow 2 path ``airflow.models.xcom_arg``."""

from __future__ import annotations

from .._leoflow.baseoperator import XComArg

__all__ = ["XComArg"]
