"""TaskFlow ETL: extract → transform → load with a literal argument."""

from datetime import datetime

from airflow.sdk import dag, task


@dag(schedule="@daily", start_date=datetime(2024, 1, 1), catchup=False, tags=["etl"])
def taskflow_etl():
    @task
    def extract() -> dict:
        return {"a": 1, "b": 2}

    @task
    def transform(rows: dict, factor: int) -> dict:
        return {k: v * factor for k, v in rows.items()}

    @task
    def load(rows: dict, table: str = "facts") -> None:
        print(table, rows)

    load(transform(extract(), factor=3), table="daily_facts")


taskflow_etl()
