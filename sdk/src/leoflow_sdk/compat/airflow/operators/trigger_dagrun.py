"""``airflow.operators.trigger_dagrun``: not supported yet (TriggerDagRunOperator)."""

from __future__ import annotations

from .._leoflow.unsupported import refuse_module

refuse_module("TriggerDagRunOperator")
