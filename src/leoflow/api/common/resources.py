"""App-level resources the routes depend on: the database, the DAG catalog, settings, logs and
the XCom service.

The composition root may put ready-made instances on ``app.state`` (``pool``, ``settings``,
``dag_catalog``, ``log_reader``, ``xcom_service``); whatever it leaves out is built here on
first use, once per app, so the API also works when mounted by tests or by Lite with only a pool.
"""

from __future__ import annotations

from fastapi import Request

from leoflow.api.log_reader import FileLogReader, LogReader
from leoflow.config import Settings, load_settings
from leoflow.scheduler.dag_catalog import DagCatalog
from leoflow.store.pool import Pool
from leoflow.xcom import XComService, build_xcom_service


def get_pool(request: Request) -> Pool:
    """The database pool of the app."""
    pool: Pool = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    """The settings the app was built with (read from the environment when none were given)."""
    state = request.app.state
    settings: Settings | None = getattr(state, "settings", None)
    if settings is None:
        security = getattr(state, "security", None)
        settings = getattr(security, "settings", None) or load_settings()
        state.settings = settings
    return settings


def get_catalog(request: Request) -> DagCatalog:
    """The compiled-DAG cache shared by the routes (DAG versions are immutable)."""
    state = request.app.state
    catalog: DagCatalog | None = getattr(state, "dag_catalog", None)
    if catalog is None:
        catalog = DagCatalog(get_pool(request), get_settings(request).task_defaults)
        state.dag_catalog = catalog
    return catalog


def get_log_reader(request: Request) -> LogReader:
    """Where task logs are read from (files under ``<home>/logs`` unless configured)."""
    state = request.app.state
    reader: LogReader | None = getattr(state, "log_reader", None)
    if reader is None:
        reader = FileLogReader(get_settings(request).home / "logs")
        state.log_reader = reader
    return reader


def get_xcom_service(request: Request) -> XComService:
    """The XCom service (policy and backend) that the tasks of this control plane use, so a
    value written through the API is checked and stored exactly like a task's push."""
    state = request.app.state
    service: XComService | None = getattr(state, "xcom_service", None)
    if service is None:
        service = build_xcom_service(get_settings(request), get_pool(request))
        state.xcom_service = service
    return service
