"""``airflow.operators.latest_only``: not supported yet (LatestOnlyOperator)."""

from __future__ import annotations

from .._leoflow.unsupported import refuse_module

refuse_module("LatestOnlyOperator")
