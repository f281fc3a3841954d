"""``airflow.utils.trigger_rule``: TriggerRule."""

from __future__ import annotations

from .._leoflow.trigger_rule import TriggerRule

__all__ = ["TriggerRule"]
