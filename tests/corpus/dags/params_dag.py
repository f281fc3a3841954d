"""DAG params with plain values and Param defaults; tags, owner and doc_md."""

from datetime import datetime

from airflow.sdk import DAG, Param, task

with DAG(
    "params_dag",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    params={"limit": 10, "mode": Param("fast", type="string", enum=["fast", "slow"])},
    tags=["params", "demo"],
    default_args={"owner": "analytics"},
    doc_md="# Params\nShows params.",
) as dag:

    @task
    def run(limit: int = 5):
        return limit

    run(limit=7)
