"""The web UI: provisioning and serving Apache Airflow's compiled web app, unmodified.

Leoflow does not ship Airflow's UI files; ``leoflow setup`` fetches the pinned
``apache-airflow-core`` wheel from the user's package index, checks it against a pinned
checksum and extracts only the UI, so nothing of Airflow is installed or redistributed.
"""

from __future__ import annotations

from leoflow.web.assets import AIRFLOW_UI_VERSION, AssetError, UiAssets, find_assets, provision

__all__ = ["AIRFLOW_UI_VERSION", "AssetError", "UiAssets", "find_assets", "provision"]
