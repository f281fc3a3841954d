"""A callable imported from a sibling module keeps that module in its entrypoint."""

from datetime import datetime

from helpers_pkg import transform

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG("sibling_module", schedule=None, start_date=datetime(2024, 1, 1)):
    PythonOperator(task_id="transform", python_callable=transform, op_kwargs={"value": 2})
