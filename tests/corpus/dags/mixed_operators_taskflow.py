"""Classic operators and TaskFlow tasks mixed with >> and data edges."""

from datetime import datetime

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag, task


@dag(schedule="0 0 1 * *", start_date=datetime(2024, 1, 1), catchup=False)
def mixed_operators_taskflow():
    prepare = BashOperator(task_id="prepare", bash_command="mkdir -p /tmp/x")

    @task
    def compute() -> int:
        return 42

    @task
    def report(value: int) -> None:
        print(value)

    value = compute()
    prepare >> value
    report(value) >> EmptyOperator(task_id="done")


mixed_operators_taskflow()
