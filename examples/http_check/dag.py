"""An HTTP task against a local endpoint: Leoflow's own ``/api/v2/version``.

``HttpOperator`` is compiled into an ``http_api`` task. The URL is a template, rendered when
the task runs, so the port can be chosen per run:

    leoflow runs trigger http_check --conf '{"leoflow_host": "127.0.0.1:8088"}'

The response body becomes the task's return value (as Airflow's ``HttpOperator`` does) and
the next task checks it. No internet is needed: the request stays on this machine.
"""

from __future__ import annotations

import json
from datetime import datetime

from airflow.providers.http.operators.http import HttpOperator
from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"leoflow_host": "127.0.0.1:8088"},
    tags=["example", "http"],
)
def http_check():
    version = HttpOperator(
        task_id="get_version",
        method="GET",
        endpoint="http://{{ params.leoflow_host }}/api/v2/version",
        headers={"Accept": "application/json"},
        extra_options={"timeout": 10},
    )

    @task
    def check(body: str) -> str:
        info = json.loads(body)
        print(f"the server says it is version {info['version']}")
        assert info["version"]
        return str(info["version"])

    check(version.output)


http_check()
