"""Every trigger rule Leoflow supports, via TriggerRule and strings."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TriggerRule

with DAG("trigger_rules", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    rules = [
        TriggerRule.ALL_SUCCESS,
        TriggerRule.ALL_FAILED,
        TriggerRule.ALL_DONE,
        TriggerRule.ONE_SUCCESS,
        TriggerRule.ONE_FAILED,
        "none_failed",
        "none_skipped",
        TriggerRule.ALWAYS,
    ]
    for rule in rules:
        [a, b] >> EmptyOperator(task_id=f"after_{rule}", trigger_rule=rule)
