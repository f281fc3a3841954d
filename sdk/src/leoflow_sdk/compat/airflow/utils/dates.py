"""``airflow.utils.dates``: ``days_ago`` is refused (a start date relative to now)."""

from __future__ import annotations

from .._leoflow.unsupported import module_getattr

__getattr__ = module_getattr(
    "airflow.utils.dates",
    {"days_ago": "days_ago() (a start_date relative to now); use a fixed datetime"},
)
