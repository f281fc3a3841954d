"""@task_group with TaskFlow tasks, called twice (group ids get __1)."""

from datetime import datetime

from airflow.sdk import dag, task, task_group


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def task_group_decorator():
    @task
    def begin() -> int:
        return 1

    @task
    def step(x: int) -> int:
        return x + 1

    @task_group
    def twice(x):
        return step(step(x))

    @task
    def finish(values: list[int]) -> int:
        return sum(values)

    first = begin()
    finish([twice(first), twice(first)])


task_group_decorator()
