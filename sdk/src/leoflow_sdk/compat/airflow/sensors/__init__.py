"""Airflow 2 sensors (``airflow.sensors``): not supported yet."""

from __future__ import annotations

from .._leoflow.unsupported import refuse_module

refuse_module("sensors")
