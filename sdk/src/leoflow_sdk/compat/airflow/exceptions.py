"""``airflow.exceptions``: the exceptions DAG code raises to steer a task's outcome, and the ones
the run-time surface raises (a missing connection, a terminated or timed-out task)."""

from __future__ import annotations


class AirflowException(Exception):
    """Base of Airflow's exceptions; raising it fails the task (retries apply)."""


class AirflowSkipException(AirflowException):
    """Raised by a task to end as skipped."""


class AirflowFailException(AirflowException):
    """Raised by a task to fail without retrying."""


class AirflowNotFoundException(AirflowException):
    """A connection (or another named object) that does not exist was asked for."""


class AirflowTaskTerminated(BaseException):
    """Raised inside the task when its process is asked to stop (SIGTERM), so ``finally``
    blocks and context managers run before the process exits. A ``BaseException``, as in
    Airflow, so a broad ``except Exception`` in user code does not swallow it."""


class AirflowTaskTimeout(BaseException):
    """The task ran longer than its ``execution_timeout``."""


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSkipException",
    "AirflowTaskTerminated",
    "AirflowTaskTimeout",
]
