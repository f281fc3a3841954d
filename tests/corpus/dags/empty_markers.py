"""EmptyOperator start/end markers around parallel work."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def work(part: str) -> str:
    return part


with DAG("empty_markers", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    start = EmptyOperator(task_id="start")
    end = EmptyOperator(task_id="end", trigger_rule="all_done")
    parts = [
        PythonOperator(task_id=f"work_{p}", python_callable=work, op_kwargs={"part": p})
        for p in ("a", "b", "c")
    ]
    start >> parts >> end
