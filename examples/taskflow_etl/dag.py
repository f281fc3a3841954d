"""TaskFlow ETL with typed XComs: extract → transform → load.

Each task returns a typed value (a ``TypedDict``, a ``list[dict]``, an ``int``); Leoflow passes
it to the next task as JSON and never logs the value itself, only its type and size. The
``xcom_schema`` in ``leoflow.yaml`` makes the server refuse a malformed return value before
it is stored, so a bad ``transform`` fails loudly instead of corrupting ``load``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from airflow.sdk import dag, task


class Order(TypedDict):
    order_id: int
    customer: str
    amount_cents: int


class Summary(TypedDict):
    orders: int
    revenue_cents: int
    top_customer: str


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["example", "etl"])
def taskflow_etl():
    @task
    def extract() -> list[Order]:
        # A real DAG would read an API or a file; the data is inline so the example runs offline.
        return [
            {"order_id": 1, "customer": "ada", "amount_cents": 1250},
            {"order_id": 2, "customer": "grace", "amount_cents": 830},
            {"order_id": 3, "customer": "ada", "amount_cents": 4100},
        ]

    @task
    def transform(orders: list[Order], min_amount_cents: int) -> Summary:
        kept = [o for o in orders if o["amount_cents"] >= min_amount_cents]
        by_customer: dict[str, int] = {}
        for order in kept:
            by_customer[order["customer"]] = (
                by_customer.get(order["customer"], 0) + order["amount_cents"]
            )
        return {
            "orders": len(kept),
            "revenue_cents": sum(by_customer.values()),
            "top_customer": max(by_customer, key=lambda name: by_customer[name]),
        }

    @task
    def load(summary: Summary) -> int:
        print(
            f"{summary['orders']} orders, revenue {summary['revenue_cents'] / 100:.2f}, "
            f"top customer {summary['top_customer']}"
        )
        assert summary["orders"] == 3 and summary["top_customer"] == "ada"
        return summary["revenue_cents"]

    load(transform(extract(), min_amount_cents=500))


taskflow_etl()
