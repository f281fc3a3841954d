"""The files ``leoflow init`` writes: a runnable TaskFlow DAG and its ``leoflow.yaml``."""

from __future__ import annotations

STARTER_DAG = '''"""A starter Leoflow DAG (Airflow 3 TaskFlow): extract, two steps, load."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task


@dag(
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={{"retries": 2, "retry_delay": timedelta(seconds=30)}},
    tags=["starter"],
)
def {dag_id}():
    @task
    def extract() -> list[int]:
        return [1, 2, 3, 4]

    @task
    def square(numbers: list[int]) -> int:
        return sum(n * n for n in numbers)

    @task
    def double(numbers: list[int]) -> int:
        return sum(2 * n for n in numbers)

    @task
    def load(totals: list[int], label: str) -> None:
        print(f"{{label}}: {{totals}}")

    numbers = extract()
    load([square(numbers), double(numbers)], label="totals")


{dag_id}()
'''

STARTER_CONFIG = """# Leoflow project settings; see DESIGN.md §5 (leoflow.yaml).
dag_id: {dag_id}
python_version: "3.11"
dependencies: []
defaults:
  retries: 1
  execution_timeout_seconds: 600
"""
