"""Airflow 2 hook paths (``airflow.hooks.*``)."""
