"""Keyed XComs: multiple_outputs (explicit and inferred), result["key"], XComArg(key=), .output."""

from datetime import datetime
from typing import TypedDict

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG, XComArg, task


class Stats(TypedDict):
    count: int
    total: float


def produce():
    return [1, 2, 3]


with DAG("keyed_xcom", schedule=None, start_date=datetime(2024, 1, 1)):
    raw = PythonOperator(task_id="produce", python_callable=produce)

    @task(multiple_outputs=True)
    def split(values):
        return {"head": values[0], "rest": values[1:]}

    @task
    def stats(values: list) -> Stats:
        return {"count": len(values), "total": float(sum(values))}

    @task
    def report(head, count, pair, everything):
        print(head, count, pair, everything)

    parts = split(raw.output)
    summary = stats(parts["rest"])
    report(
        head=parts["head"],
        count=XComArg(summary.operator, key="count"),
        pair=[parts["head"], summary["total"]],
        everything=summary,
    )
