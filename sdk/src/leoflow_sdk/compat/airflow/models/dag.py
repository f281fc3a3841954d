"""Airflow 2 path ``airflow.models.dag``."""

from __future__ import annotations

from .._leoflow.dag import DAG

__all__ = ["DAG"]
