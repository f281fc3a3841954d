"""Airflow 2 path ``airflow.models.param``."""

from __future__ import annotations

from .._leoflow.params import Param

__all__ = ["Param"]
