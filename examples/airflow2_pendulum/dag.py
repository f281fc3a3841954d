"""An Airflow 2 style DAG that imports ``pendulum`` at the top, unchanged.

``from airflow import DAG``, ``PythonOperator``, ``schedule_interval`` and a ``pendulum``
start date all work. ``pendulum`` is a real dependency here (declared in ``leoflow.yaml``), so
the DAG file compiles in its own virtualenv exactly as it imports in Airflow.
"""

from __future__ import annotations

import pendulum
from airflow import DAG
from airflow.operators.python import PythonOperator


def business_days_until(target: str) -> int:
    today = pendulum.datetime(2025, 1, 6, tz="Europe/Amsterdam")
    end = pendulum.parse(target, tz="Europe/Amsterdam")
    days = sum(1 for day in (end - today).range("days") if day.day_of_week < 5)
    print(f"{days} business days from {today.to_date_string()} to {end.to_date_string()}")
    return days


def announce(days: int) -> None:
    print(f"{days} business days to go")
    assert days == 10


with DAG(
    dag_id="airflow2_pendulum",
    schedule_interval="@weekly",
    start_date=pendulum.datetime(2025, 1, 1, tz="Europe/Amsterdam"),
    catchup=False,
    default_args={"owner": "examples", "retries": 0},
    tags=["example", "airflow2"],
) as dag:
    count = PythonOperator(
        task_id="count_business_days",
        python_callable=business_days_until,
        op_args=["2025-01-17"],
    )
    # Data flows as an argument (op_kwargs + .output), which also sets the dependency.
    PythonOperator(task_id="announce", python_callable=announce, op_kwargs={"days": count.output})
