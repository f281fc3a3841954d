"""Map-reduce: five map branches fan into one reducer, in declaration order."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2024, 1, 1))
def map_reduce_fan_in():
    @task
    def source() -> list[int]:
        return list(range(10))

    @task
    def mapper(values: list[int], shard: int) -> int:
        return sum(v for v in values if v % 5 == shard)

    @task
    def reducer(partials: list[int]) -> int:
        return sum(partials)

    values = source()
    reducer([mapper(values, shard=i) for i in range(5)])


map_reduce_fan_in()
