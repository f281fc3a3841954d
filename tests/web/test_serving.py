"""Serving the web app: pages, static files, the login page, sub-paths, missing files."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from harness.api import api_settings
from leoflow.api.app import create_app
from leoflow.config import Settings
from leoflow.store.pool import Pool
from leoflow.web.assets import UiAssets
from leoflow.web.spa import BaseUrlError, base_path


async def _client(app: FastAPI, **kwargs: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, **kwargs)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _bundle(ui_assets: UiAssets, pattern: str = "index-*.js") -> str:
    return next((ui_assets.ui_dir / "assets").glob(pattern)).name


@pytest.mark.parametrize("path", ["/", "/dags", "/dags/etl/runs/manual__2025/tasks/load", "/x.y"])
async def test_every_page_path_gets_the_app_with_its_base(
    web_client: httpx.AsyncClient, path: str
) -> None:
    response = await web_client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert '<base href="/" />' in response.text
    assert "{{" not in response.text
    assert "<title>Leoflow Lite</title>" in response.text


async def test_hashed_bundles_are_immutable_and_served_gzipped_once(
    web_client: httpx.AsyncClient, ui_assets: UiAssets
) -> None:
    name = _bundle(ui_assets)
    url = f"/static/assets/{name}"
    zipped = await web_client.get(url, headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 200
    assert zipped.headers["content-type"] == "text/javascript; charset=utf-8"
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["vary"] == "Accept-Encoding"
    original = (ui_assets.ui_dir / "assets" / name).read_bytes()
    assert zipped.content == original  # httpx decodes: the precompressed copy is faithful
    precompressed = (ui_assets.ui_dir / "assets" / f"{name}.gz").stat().st_size
    assert int(zipped.headers["content-length"]) == precompressed
    plain = await web_client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == original
    assert plain.headers["etag"] != zipped.headers["etag"]


async def test_an_unchanged_file_is_answered_304(
    web_client: httpx.AsyncClient, ui_assets: UiAssets
) -> None:
    url = "/static/i18n/locales/en/common.json"
    first = await web_client.get(url)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "no-cache"
    again = await web_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    ("pattern", "media_type"),
    [
        ("*.wasm", "application/wasm"),
        ("*.css", "text/css; charset=utf-8"),
        ("*.ttf", "font/ttf"),
    ],
)
async def test_content_types_are_fixed(
    web_client: httpx.AsyncClient, ui_assets: UiAssets, pattern: str, media_type: str
) -> None:
    response = await web_client.get(f"/static/assets/{_bundle(ui_assets, pattern)}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type


async def test_assets_alias_serves_the_same_chunks(
    web_client: httpx.AsyncClient, ui_assets: UiAssets
) -> None:
    name = _bundle(ui_assets, "rolldown-runtime-*.js")
    alias = await web_client.get(f"/assets/{name}")
    assert alias.status_code == 200
    assert alias.content == (ui_assets.ui_dir / "assets" / name).read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fmanifest.json",
        "/static/assets/does-not-exist.js",
        "/static/index.html.gz",
        "/static/assets/../../LICENSE",
        "/auth/static/../../LICENSE",
        "/auth/static/..%2f..%2fNOTICE",
    ],
)
async def test_unknown_or_escaping_static_paths_never_reach_a_file(
    web_client: httpx.AsyncClient, path: str
) -> None:
    response = await web_client.get(path)
    # Either a 404, or (when the client normalized the dots away) the app's page.
    assert response.status_code in (404, 200)
    if response.status_code == 200:
        assert '<div id="root"' in response.text
    for secret in ("root:x:", "Apache License", "wheel_sha256", "Apache Software Foundation"):
        assert secret not in response.text


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v2/nope"), ("GET", "/ui/nope"), ("POST", "/dags"), ("GET", "/api/v1/dags")],
)
async def test_unknown_api_paths_are_json_404(
    web_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await web_client.request(method, path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


async def test_login_page_is_airflows_form_with_the_root_as_base(
    web_client: httpx.AsyncClient, ui_assets: UiAssets
) -> None:
    page = await web_client.get("/auth/login", params={"next": "http://testserver/dags"})
    assert page.status_code == 200
    assert '<base href="/" />' in page.text
    script = re.search(r'src="\./(auth/static/assets/index-[^"]+\.js)"', page.text)
    assert script is not None
    bundle = await web_client.get("/" + script.group(1))
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    icon = await web_client.get("/auth/static/pin_32.png")
    assert icon.headers["content-type"] == "image/png"


async def test_login_redirect_lands_on_the_login_page(web_client: httpx.AsyncClient) -> None:
    redirect = await web_client.get("/api/v2/auth/login", params={"next": "http://testserver/"})
    assert redirect.status_code == 307
    page = await web_client.get(redirect.headers["location"])
    assert page.status_code == 200
    assert "auth/static/assets" in page.text


async def test_logo_and_api_docs_are_served(web_client: httpx.AsyncClient) -> None:
    logo = await web_client.get("/_leoflow/logo.svg")
    assert logo.status_code == 200
    assert logo.headers["content-type"] == "image/svg+xml"
    assert "LITE" in logo.text and "Leoflow Lite" in logo.text
    docs = await web_client.get("/docs")
    assert docs.status_code == 200
    assert '<script src="/docs/scalar/standalone.js">' in docs.text
    assert "swagger" not in docs.text.lower()
    assert (await web_client.get("/openapi.json")).status_code == 200


async def test_pro_has_no_lite_badge(web_app_factory: Any) -> None:
    async for client in _client(web_app_factory(edition="pro")):
        page = await client.get("/")
        assert "<title>Leoflow</title>" in page.text
        assert "LITE" not in (await client.get("/_leoflow/logo.svg")).text


async def test_sub_path_deployment_fills_the_base_with_the_prefix(web_app_factory: Any) -> None:
    app = web_app_factory(base_url="/leoflow/")
    async for client in _client(app):
        kept = await client.get("/leoflow/dags/etl")  # proxy passes the prefix through
        assert '<base href="/leoflow/" />' in kept.text
        stripped = await client.get("/dags/etl")  # proxy strips the prefix
        assert '<base href="/leoflow/" />' in stripped.text
        health = await client.get("/leoflow/api/v2/monitor/health")
        assert health.status_code == 200
        login = await client.get("/leoflow/api/v2/auth/login")
        assert login.headers["location"] == "/leoflow/auth/login"
        page = await client.get("/leoflow/auth/login")
        assert '<base href="/leoflow/" />' in page.text


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/", ""), ("", ""), ("/a/", "/a"), ("a/b", "/a/b"), ("https://h.example/x/", "/x")],
)
def test_base_url_is_normalized(value: str, expected: str) -> None:
    assert base_path(Settings(base_url=value)) == expected


@pytest.mark.parametrize("value", ['/a"b/', "/a/../b", "/<x>/", "/a b/", "/a//b"])
def test_a_base_url_that_could_break_the_page_is_refused(value: str) -> None:
    with pytest.raises(BaseUrlError, match="LEOFLOW_BASE_URL"):
        base_path(Settings(base_url=value))


async def test_missing_files_give_a_page_saying_how_to_provision(
    db_pool: Pool, tmp_path: Path
) -> None:
    app = create_app(db_pool, api_settings(ui_assets_dir=tmp_path / "nothing-here"))
    async for client in _client(app):
        page = await client.get("/dags")
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "leoflow setup" in page.text
        assert str(tmp_path / "nothing-here") in page.text
        assert (await client.get("/auth/login")).status_code == 503
        assert (await client.get("/static/assets/x.js")).status_code == 503
        assert (await client.get("/api/v2/monitor/health")).status_code == 200
