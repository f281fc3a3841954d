"""One file with one DAG plus prints to stdout and stderr (must not corrupt the result)."""

import sys
from datetime import datetime

from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator

print("hello from module level")
print("warning on stderr", file=sys.stderr)

with DAG("multi_dag_file", schedule="@once", start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="only")
