"""``airflow.models.connection``: Connection (read from ``AIRFLOW_CONN_<ID>`` at run time)."""

from __future__ import annotations

from .._leoflow.connections import Connection

__all__ = ["Connection"]
