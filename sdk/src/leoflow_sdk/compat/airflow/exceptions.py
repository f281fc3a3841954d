"""``airflow.exceptions``: the exceptions DAG code raises to steer a task's outcome."""

from __future__ import annotations


class AirflowException(Exception):
    """Base of Airflow's exceptions; raising it fails the task (retries apply)."""


class AirflowSkipException(AirflowException):
    """Raised by a task to end as skipped."""


class AirflowFailException(AirflowException):
    """Raised by a task to fail without retrying."""


__all__ = ["AirflowException", "AirflowFailException", "AirflowSkipException"]
