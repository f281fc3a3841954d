"""@task.python and @task without parentheses, with retries and timeouts on the decorator."""

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(dag_id="task_python_decorator", schedule=None, start_date=datetime(2024, 1, 1))
def build():
    @task.python(retries=2, execution_timeout=timedelta(minutes=5))
    def one():
        return 1

    @task
    def two(x):
        return x + 1

    two(one())


build()
