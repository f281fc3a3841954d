"""``airflow.operators.empty``: EmptyOperator."""

from __future__ import annotations

from .._leoflow.operators import EmptyOperator

__all__ = ["EmptyOperator"]
