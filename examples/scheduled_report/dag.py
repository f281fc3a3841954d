"""A scheduled report: every weekday at 06:00 (Europe/Paris), written to the run's staging dir.

With ``staging`` enabled in ``leoflow.yaml`` every task of a run sees the same scratch folder in
``LEOFLOW_STAGING_DIR`` (a folder under ``~/.leoflow/staging`` in Lite, a shared volume in
Pro), so one task can write a file the next one reads without passing it through XCom.
"""

from __future__ import annotations

import csv
import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from airflow.sdk import dag, task


def staging() -> Path:
    return Path(os.environ["LEOFLOW_STAGING_DIR"])


@dag(
    schedule="0 6 * * 1-5",
    start_date=datetime(2025, 1, 1, tzinfo=ZoneInfo("Europe/Paris")),
    catchup=False,
    tags=["example", "scheduled"],
)
def scheduled_report():
    @task
    def collect_metrics(ds: str | None = None) -> int:
        rows = [
            {"day": ds, "metric": "signups", "value": 42},
            {"day": ds, "metric": "orders", "value": 17},
            {"day": ds, "metric": "refunds", "value": 1},
        ]
        path = staging() / "metrics.csv"
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["day", "metric", "value"])
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {len(rows)} rows to {path.name}")
        return len(rows)

    @task
    def render_report(row_count: int) -> str:
        with (staging() / "metrics.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == row_count
        lines = ["# Daily report", ""] + [f"- {r['metric']}: {r['value']}" for r in rows]
        report = staging() / "report.md"
        report.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(report.read_text(encoding="utf-8"))
        return report.name

    render_report(collect_metrics())


scheduled_report()
