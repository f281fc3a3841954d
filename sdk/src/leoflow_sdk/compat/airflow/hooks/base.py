"""``airflow.hooks.base``: BaseHook (connections read from ``AIRFLOW_CONN_<ID>``)."""

from __future__ import annotations

from .._leoflow.connections import BaseHook

__all__ = ["BaseHook"]
