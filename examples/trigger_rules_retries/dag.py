"""Trigger rules and retries: what runs after a failure, a skip, and a flaky first try.

* ``flaky`` fails its first try and succeeds on the retry (``retries=2``, 1 s apart).
* ``always_fails`` fails for good (``retries=0``): ``on_failure`` (``one_failed``) reacts,
  ``needs_success`` (``all_success``) becomes ``upstream_failed``.
* ``maybe_skip`` skips itself; ``after_skip`` (``none_failed``) still runs.
* ``cleanup`` (``all_done``) runs whatever happened and is the only leaf, so the run
  succeeds: Airflow decides a run by its leaf tasks.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.exceptions import AirflowSkipException
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["example", "rules"])
def trigger_rules_retries():
    start = EmptyOperator(task_id="start")

    @task(retries=2, retry_delay=timedelta(seconds=1))
    def flaky(ti=None) -> str:
        if ti.try_number == 1:
            raise RuntimeError("first try fails on purpose; the retry will succeed")
        return f"succeeded on try {ti.try_number}"

    @task(retries=0)
    def always_fails() -> None:
        raise ValueError("this task fails on purpose")

    @task
    def maybe_skip() -> None:
        raise AirflowSkipException("nothing to do today")

    @task(trigger_rule="one_failed")
    def on_failure() -> str:
        print("an upstream task failed: alerting (here, just printing)")
        return "alerted"

    @task(trigger_rule="all_success")
    def needs_success() -> None:
        raise AssertionError("never runs: its upstream failed")

    @task(trigger_rule="none_failed")
    def after_skip() -> str:
        return "ran although its upstream was skipped"

    @task(trigger_rule="all_done")
    def cleanup() -> str:
        return "cleaned up"

    flaky_task, failing, skipping = flaky(), always_fails(), maybe_skip()
    start >> [flaky_task, failing, skipping]
    alert, blocked, resumed = on_failure(), needs_success(), after_skip()
    failing >> [alert, blocked]
    skipping >> resumed
    [flaky_task, alert, blocked, resumed] >> cleanup()


trigger_rules_retries()
