"""``airflow.models.variable``: Variable (read from ``AIRFLOW_VAR_<KEY>`` at run time)."""

from __future__ import annotations

from .._leoflow.variables import Variable

__all__ = ["Variable"]
