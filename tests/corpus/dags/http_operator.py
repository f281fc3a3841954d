"""HttpOperator calls to absolute URLs."""

import json
from datetime import datetime, timedelta

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import DAG

with DAG("http_operator", schedule="@hourly", start_date=datetime(2024, 1, 1)) as dag:
    ping = HttpOperator(
        task_id="ping",
        endpoint="https://api.example.com/health",
        method="GET",
        extra_options={"timeout": 10},
    )
    post = HttpOperator(
        task_id="post_event",
        endpoint="https://api.example.com/events",
        data=json.dumps({"event": "done"}),
        headers={"Content-Type": "application/json"},
        execution_timeout=timedelta(seconds=30),
    )
    ping >> post
