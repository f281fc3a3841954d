"""Airflow 2 style: from airflow import DAG, airflow.operators.*, airflow.decorators."""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.decorators import task
from airflow.models.baseoperator import chain
from airflow.operators.bash import BashOperator
from airflow.operators.empty import EmptyOperator
from airflow.operators.python import PythonOperator
from airflow.utils.trigger_rule import TriggerRule


def hello(name):
    print("hello", name)


default_args = {
    "owner": "data-team",
    "depends_on_past": False,
    "email": ["alerts@example.com"],
    "email_on_failure": False,
    "email_on_retry": False,
    "retries": 1,
    "retry_delay": timedelta(minutes=5),
}

with DAG(
    dag_id="airflow2_imports",
    default_args=default_args,
    schedule_interval="@daily",
    start_date=datetime(2023, 1, 1),
    catchup=False,
) as dag:
    begin = EmptyOperator(task_id="begin")
    say = PythonOperator(task_id="say", python_callable=hello, op_args=["world"])
    shell = BashOperator(task_id="shell", bash_command="echo ok")

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def wrap_up():
        return "done"

    chain(begin, say, shell, wrap_up())
