"""Airflow 3 paths of the standard operators."""
