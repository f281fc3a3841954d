"""default_args with retries, retry_delay, backoff and timeouts; task-level overrides."""

from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG(
    "default_args_retries",
    start_date=datetime(2024, 1, 1),
    schedule="30 2 * * *",
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=90),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=1),
        "owner": "ops",
    },
    max_active_runs=2,
    max_active_tasks=4,
) as dag:
    default = BashOperator(task_id="uses_defaults", bash_command="true")
    custom = BashOperator(
        task_id="custom",
        bash_command="true",
        retries=5,
        retry_delay=timedelta(seconds=10),
        execution_timeout=timedelta(minutes=2),
    )
    default >> custom
