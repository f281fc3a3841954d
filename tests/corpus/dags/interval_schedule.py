"""timedelta schedule becomes an interval schedule."""

from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG(
    "interval_schedule",
    schedule=timedelta(minutes=30),
    start_date=datetime(2024, 1, 1, 0, 15),
    catchup=False,
):
    BashOperator(task_id="poll", bash_command="echo poll")
