"""PythonOperator with op_args/op_kwargs and an upstream .output bound as XCom."""

from datetime import datetime

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def produce():
    return {"n": 3}


def consume(payload, scale=1, *, label="x"):
    return payload["n"] * scale


with DAG("python_operator_xcom", schedule=None, start_date=datetime(2024, 1, 1)):
    producer = PythonOperator(task_id="produce", python_callable=produce)
    PythonOperator(
        task_id="consume",
        python_callable=consume,
        op_args=[producer.output],
        op_kwargs={"scale": 2, "label": "y"},
    )
