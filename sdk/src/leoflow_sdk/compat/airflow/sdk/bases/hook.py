"""``airflow.sdk.bases.hook`` (Airflow 3 path of BaseHook)."""

from __future__ import annotations

from ..._leoflow.connections import BaseHook

__all__ = ["BaseHook"]
