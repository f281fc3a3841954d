"""Bash pipeline with env, append_env and cwd."""

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG(
    dag_id="bash_pipeline",
    schedule="0 6 * * 1-5",
    start_date=pendulum.datetime(2024, 3, 1, tz="Europe/Paris"),
    catchup=True,
    description="Nightly shell steps",
) as dag:
    fetch = BashOperator(task_id="fetch", bash_command="curl -fsS https://example.com > data.txt")
    count = BashOperator(
        task_id="count",
        bash_command="wc -l data.txt && echo $STAGE",
        env={"STAGE": "count"},
        append_env=True,
    )
    archive = BashOperator(task_id="archive", bash_command="tar czf out.tgz .", cwd="/tmp/work")
    fetch >> count >> archive
