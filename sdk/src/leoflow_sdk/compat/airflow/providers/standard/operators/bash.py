"""``airflow.providers.standard.operators.bash``: BashOperator."""

from __future__ import annotations

from ...._leoflow.operators import BashOperator

__all__ = ["BashOperator"]
