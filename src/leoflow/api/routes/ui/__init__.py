"""The private ``/ui`` API of the Airflow 3.3.2 web app, answered from Leoflow's store.

Airflow marks this API as internal and unstable: it exists for its web app only and changes
between releases. Leoflow pins one web app release (``leoflow.web.assets``) and implements
exactly that release's ``_private_ui.yaml``; the routes stay out of the OpenAPI document, as
in Airflow. Features Leoflow does not have (assets, backfills, teams, deadlines, partitions)
answer schema-valid empty collections, so their widgets stay empty instead of erroring.
"""

from __future__ import annotations

from fastapi import APIRouter

from leoflow.api.routes.ui import config, dags, dashboard, grid, misc

router = APIRouter(prefix="/ui", include_in_schema=False)
for _module in (config, dags, dashboard, grid, misc):
    router.include_router(_module.router, include_in_schema=False)

absent_public_router = misc.absent_public_router
"""``/api/v2`` routes of features Leoflow lacks that the web app's pages ask for (empty)."""

__all__ = ["absent_public_router", "router"]
