"""``airflow.providers.http.operators.http``: HttpOperator (and its Airflow 2 name)."""

from __future__ import annotations

from ...._leoflow.operators import HttpOperator
from ...._leoflow.operators import HttpOperator as SimpleHttpOperator

__all__ = ["HttpOperator", "SimpleHttpOperator"]
