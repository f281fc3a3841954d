"""Leoflow internals of the Airflow shim: the recorder behind the public ``airflow`` modules.

Public Airflow module paths (``airflow.sdk``, ``airflow.operators.bash`` …) only re-export names
from here, so each concept has one home however many import paths reach it.
"""
