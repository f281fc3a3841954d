"""Request and response models of ``/api/v2``, mirroring Airflow 3.3.2's schemas field by field.

They are kept apart from the store's rows (as Airflow keeps ``datamodels`` apart from its ORM):
the routes translate rows into these models, so a change of storage never changes the wire
format the Airflow UI and the official client parse.
"""
