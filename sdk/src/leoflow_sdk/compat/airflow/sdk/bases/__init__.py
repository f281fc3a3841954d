"""``airflow.sdk.bases``: base classes for operators."""
