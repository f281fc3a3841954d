"""A DAG with its own pip dependency: ``humanize``, declared in ``leoflow.yaml``.

Lite builds this DAG a virtualenv of its own from those dependencies (cached by their hash, so
DAGs with the same list share one) and compiles and runs the DAG in it: the control plane never
installs it. Adding a dependency to the list builds a new venv for the next version.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import humanize  # importable because leoflow.yaml declares it
from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1), catchup=False, tags=["example", "deps"])
def humanize_report():
    @task
    def measure() -> dict:
        return {"bytes": 123_456_789, "seconds": 5400, "items": 1_200_000}

    @task
    def describe(stats: dict) -> str:
        text = (
            f"{humanize.naturalsize(stats['bytes'])} in "
            f"{humanize.naturaldelta(timedelta(seconds=stats['seconds']))}, "
            f"{humanize.intword(stats['items'])} items (humanize {humanize.__version__})"
        )
        print(text)
        return text

    describe(measure())


humanize_report()
