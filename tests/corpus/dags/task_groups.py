"""TaskGroups flattened to group.task ids, nested groups, edges into and out of groups."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TaskGroup

with DAG("task_groups", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    start = EmptyOperator(task_id="start")
    with TaskGroup("ingest") as ingest:
        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b")
        with TaskGroup("inner") as inner:
            c = EmptyOperator(task_id="c")
        a >> inner
    with TaskGroup("publish", prefix_group_id=False) as publish:
        p = EmptyOperator(task_id="publish_now")
    end = EmptyOperator(task_id="end")
    start >> ingest >> publish >> end
