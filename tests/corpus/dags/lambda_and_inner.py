"""A lambda and a function defined inside a helper: found again through the rebuilt DAG."""

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def make_task(name):
    def inner():
        return name

    return PythonOperator(task_id=f"inner_{name}", python_callable=inner)


with DAG("lambda_and_inner", schedule=None, start_date=datetime(2024, 1, 1)):
    quick = PythonOperator(task_id="quick", python_callable=lambda: "hi")
    quick >> make_task("x")
