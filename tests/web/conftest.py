"""Fixtures of the web tests: the real UI files and an app serving them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from harness.api import api_settings
from harness.web import UiContract, provisioned_assets, provisioned_docs, ui_contract
from leoflow.api.app import create_app
from leoflow.store.pool import Pool
from leoflow.web.assets import UiAssets
from leoflow.web.docs_assets import DocsAssets


@pytest.fixture(scope="session")
def ui_assets() -> UiAssets:
    """The pinned Airflow web app files (provisioned once per machine)."""
    return provisioned_assets()


@pytest.fixture(scope="session")
def docs_assets() -> DocsAssets:
    """The pinned Scalar bundle of ``/docs`` (provisioned once per machine)."""
    return provisioned_docs()


@pytest.fixture(scope="session")
def contract() -> UiContract:
    """Airflow 3.3.2's private UI API contract."""
    return ui_contract()


@pytest.fixture
def web_app_factory(db_pool: Pool, ui_assets: UiAssets, docs_assets: DocsAssets) -> Any:
    """Build an app serving the UI files and ``/docs``; keyword arguments override settings."""

    def build(**overrides: Any) -> FastAPI:
        values: dict[str, Any] = {
            "ui_assets_dir": ui_assets.root,
            "docs_assets_dir": docs_assets.root,
        }
        values.update(overrides)
        return create_app(db_pool, api_settings(**values))

    return build


@pytest.fixture
async def web_client(web_app_factory: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app at the root path serving the UI (lifespan started)."""
    app = web_app_factory()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
