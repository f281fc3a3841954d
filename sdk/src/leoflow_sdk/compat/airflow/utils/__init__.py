"""Airflow 2 utility paths the shim covers."""
