"""chain with lists, cross_downstream, set_upstream/set_downstream and <<."""

from datetime import datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, chain, cross_downstream

with DAG("chain_cross", schedule=None, start_date=datetime(2024, 1, 1)):
    t = {name: EmptyOperator(task_id=name) for name in "abcdefghij"}
    chain(t["a"], [t["b"], t["c"]], [t["d"], t["e"]], t["f"])
    cross_downstream([t["f"], t["g"]], [t["h"], t["i"]])
    t["j"].set_upstream(t["h"])
    t["i"].set_downstream(t["j"])
    t["j"] << t["a"]
