"""Cron schedule in a named timezone taken from start_date (pendulum)."""

import pendulum

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(
    dag_id="cron_timezone",
    schedule="15 8 * * *",
    start_date=pendulum.datetime(2024, 6, 1, tz="America/New_York"),
    catchup=False,
):
    EmptyOperator(task_id="tick")
