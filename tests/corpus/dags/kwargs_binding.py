"""Extra keyword arguments collected by **kwargs bind by their own names."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def kwargs_binding():
    @task
    def base() -> int:
        return 1

    @task
    def flexible(first, **kwargs):
        return first, kwargs

    flexible(base(), colour="red", sizes=[1, 2], nested={"a": None})


kwargs_binding()
