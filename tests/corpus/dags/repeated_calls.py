"""Repeated @task calls get ids name, name__1, name__2; task_id= and override()."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def repeated_calls():
    @task
    def add(x: int, y: int) -> int:
        return x + y

    @task(task_id="custom_name")
    def named() -> int:
        return 0

    first = add(1, 2)
    second = add(first, 3)
    add(second, y=4)
    named()
    add.override(task_id="overridden", retries=4)(10, 20)


repeated_calls()
