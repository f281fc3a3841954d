"""``airflow.sdk.bases.operator`` (Airflow 3 path of BaseOperator and chain)."""

from __future__ import annotations

from ..._leoflow.baseoperator import BaseOperator, chain, cross_downstream

__all__ = ["BaseOperator", "chain", "cross_downstream"]
