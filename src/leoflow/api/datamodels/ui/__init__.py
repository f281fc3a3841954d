"""Models of the private ``/ui`` API, shaped exactly as Airflow 3.3.2's ``_private_ui.yaml``."""
