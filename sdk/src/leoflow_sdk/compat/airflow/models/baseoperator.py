"""Airflow 2 path ``airflow.models.baseoperator``."""

from __future__ import annotations

from .._leoflow.baseoperator import BaseOperator, chain, cross_downstream

__all__ = ["BaseOperator", "chain", "cross_downstream"]
