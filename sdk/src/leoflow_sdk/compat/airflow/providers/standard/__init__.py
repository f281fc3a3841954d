"""``apache-airflow-providers-standard`` (Airflow 3 home of the core operators)."""
