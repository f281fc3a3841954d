"""Airflow 2 operator paths (``airflow.operators.*``)."""
