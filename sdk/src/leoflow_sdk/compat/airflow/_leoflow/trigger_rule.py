"""Airflow's trigger rules, and the subset Leoflow's scheduler evaluates."""

from __future__ import annotations

from enum import StrEnum


class TriggerRule(StrEnum):
    """Every Airflow 3 trigger rule, so DAG files reference them unchanged; see ``SUPPORTED``."""

    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_DONE_SETUP_SUCCESS = "all_done_setup_success"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"
    ALL_SKIPPED = "all_skipped"

    @classmethod
    def is_valid(cls, trigger_rule: str) -> bool:
        """Whether Airflow knows this rule (mirrors ``TriggerRule.is_valid``)."""
        return trigger_rule in {rule.value for rule in cls}


SUPPORTED = frozenset(
    {
        "all_success",
        "all_failed",
        "all_done",
        "one_success",
        "one_failed",
        "none_failed",
        "none_skipped",
        "always",
    }
)
"""Rules the Leoflow scheduler evaluates (DESIGN.md §5); any other is a compile error."""
