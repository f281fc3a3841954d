"""One router module per resource, as in Airflow's ``core_api/routes``."""
