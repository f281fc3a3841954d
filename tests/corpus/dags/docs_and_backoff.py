"""Task documentation, per-task exponential backoff, task owners, Params with schemas."""

from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param

with DAG(
    "docs_and_backoff",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={"owner": "data", "retries": 2, "retry_delay": timedelta(seconds=30)},
    doc_md="# Docs\nEvery kind of task documentation.",
    params={
        "table": Param(description="Target table; required when triggering", type="string"),
        "limit": Param(100, type="integer", minimum=1, maximum=1000),
        "mode": "append",
    },
) as dag:
    start = EmptyOperator(task_id="start", doc_md="Marks the start.")
    load = BashOperator(
        task_id="load",
        bash_command="./load.sh {{ params.table }} ",
        retry_exponential_backoff=True,
        owner="loaders",
        doc_json='{"table": "facts"}',
        env={"ONLY": "this"},
        skip_on_exit_code=None,
    )
    plain = BashOperator(
        task_id="plain",
        bash_command="echo plain",
        doc="Plain text, shown as is.",
        retry_exponential_backoff=False,
    )
    start >> [load, plain]
