"""TaskGroup default_args apply to the group's tasks; a task argument still wins."""

from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, TaskGroup

with DAG("group_default_args", schedule=None, start_date=datetime(2024, 1, 1)):
    with TaskGroup("slow", default_args={"retries": 4, "retry_delay": timedelta(minutes=2)}):
        BashOperator(task_id="a", bash_command="true")
        BashOperator(task_id="b", bash_command="true", retries=1)
    BashOperator(task_id="outside", bash_command="true")
