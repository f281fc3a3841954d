"""Preset schedule with start_date, end_date and catchup."""

from datetime import datetime, timezone

from airflow.sdk import dag, task


@dag(
    schedule="@weekly",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    end_date=datetime(2024, 12, 31, tzinfo=timezone.utc),
    catchup=True,
    description="Weekly report",
)
def cron_presets():
    @task
    def report():
        return "ok"

    report()


cron_presets()
