"""Bash commands with Jinja templates, rendered at run time."""

from datetime import datetime, timedelta

from airflow.operators.bash import BashOperator
from airflow import DAG

with DAG(
    "bash_templated",
    schedule=timedelta(hours=6),
    start_date=datetime(2024, 1, 1),
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
) as dag:
    first = BashOperator(task_id="print_date", bash_command="date")
    second = BashOperator(task_id="sleep", bash_command="sleep 1", retries=0)
    third = BashOperator(
        task_id="templated",
        bash_command="{% for i in range(3) %}echo {{ ds }} {{ i }};{% endfor %}",
    )
    first >> [second, third]
