"""The HTTP surface: Airflow-shaped ``/api/v2`` plus Leoflow's own endpoints.

This package is the anti-corruption layer: the domain speaks Leoflow, only ``api`` translates
to Airflow-shaped DTOs. Nothing below ``api`` imports it.
"""

from leoflow.api.app import create_app

__all__ = ["create_app"]
