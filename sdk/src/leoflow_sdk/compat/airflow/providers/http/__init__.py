"""``apache-airflow-providers-http``: the HttpOperator."""
