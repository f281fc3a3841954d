"""``/docs`` (Scalar, from our own origin) and ``/openapi.json``: the page, its policy, the
bundle, a missing bundle, a path prefix, and ``LEOFLOW_DOCS_REQUIRE_AUTH``."""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from harness.api import bearer, create_test_user, security_of
from leoflow.store import tenants
from leoflow.store.pool import Pool
from leoflow.web.docs_assets import SCALAR_VERSION, DocsAssets


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {words[0]: words[1:] for words in directives}


def _configuration(page: str) -> dict[str, Any]:
    found = re.search(r'data-configuration="([^"]*)"', page)
    assert found is not None, page
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


async def test_docs_page_loads_scalar_from_this_origin_under_a_strict_policy(
    web_client: httpx.AsyncClient,
) -> None:
    page = await web_client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts == ["/docs/style-nonce.js", "/docs/scalar/standalone.js"]
    assert 'data-url="/openapi.json"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # nothing elsewhere
    configuration = _configuration(page.text)
    assert configuration["withDefaultFonts"] is False  # its fonts would come from a CDN
    assert configuration["telemetry"] is False
    assert "proxyUrl" not in configuration
    policy = _policy(page)
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["font-src"] == ["'self'", "data:"]
    nonce = re.search(r'<meta property="csp-nonce" content="([^"]+)">', page.text)
    assert nonce is not None
    assert policy["style-src-elem"] == ["'self'", f"'nonce-{nonce.group(1)}'"]
    for sources in policy.values():
        assert not any(s.startswith(("http", "*")) or s == "'unsafe-eval'" for s in sources)
    again = await web_client.get("/docs")
    assert _policy(again)["style-src-elem"] != policy["style-src-elem"]  # a nonce per answer


async def test_scalar_bundle_and_the_nonce_script_are_served(
    web_client: httpx.AsyncClient, docs_assets: DocsAssets
) -> None:
    bundle = await web_client.get("/docs/scalar/standalone.js", headers={"Accept-Encoding": "gzip"})
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
    assert bundle.headers["content-encoding"] == "gzip"
    assert bundle.headers["cache-control"] == "no-cache" and bundle.headers["etag"]
    assert bundle.content == (docs_assets.browser_dir / "standalone.js").read_bytes()
    assert f"@scalar/api-reference@{SCALAR_VERSION}" in bundle.text
    shim = await web_client.get("/docs/style-nonce.js")
    assert shim.headers["content-type"].startswith("text/javascript")
    assert 'meta[property="csp-nonce"]' in shim.text
    for path in ("/docs/scalar/manifest.json", "/docs/scalar/../manifest.json", "/docs/nope"):
        missing = await web_client.get(path)
        assert missing.status_code == 404, path
        assert "integrity" not in missing.text


async def test_openapi_is_fastapis_3_1_document_and_fastapis_cdn_pages_are_gone(
    web_client: httpx.AsyncClient,
) -> None:
    document = await web_client.get("/openapi.json")
    assert document.status_code == 200
    spec = document.json()
    assert spec["openapi"].startswith("3.1")
    assert spec["info"]["title"] == "Leoflow API"
    assert spec["paths"]["/api/v2/dags"]["get"]["summary"] == "Get Dags"
    assert "/docs" not in spec["paths"] and "/openapi.json" not in spec["paths"]
    assert "servers" not in spec
    for path in ("/redoc", "/docs/oauth2-redirect"):
        assert (await web_client.get(path)).status_code == 404, path


async def test_without_the_bundle_docs_is_503_naming_leoflow_setup(
    web_app_factory: Any, tmp_path: Path, docs_assets: DocsAssets
) -> None:
    later = tmp_path / "scalar"
    app = web_app_factory(docs_assets_dir=later)
    async for client in _client(app):
        page = await client.get("/docs")
        assert page.status_code == 503
        assert "leoflow setup" in page.text and str(later) in page.text
        assert "<script" not in page.text  # no fallback to a CDN
        bundle = await client.get("/docs/scalar/standalone.js")
        assert bundle.status_code == 503 and "leoflow setup" in bundle.text
        assert (await client.get("/openapi.json")).status_code == 200
        shutil.copytree(docs_assets.root, later)  # `leoflow setup` beside the running server
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/docs/scalar/standalone.js")).status_code == 200


async def test_under_a_path_prefix_every_url_carries_it(web_app_factory: Any) -> None:
    app = web_app_factory(base_url="/leoflow/")
    async for client in _client(app):
        page = await client.get("/leoflow/docs")
        assert page.status_code == 200
        assert '<script src="/leoflow/docs/scalar/standalone.js">' in page.text
        assert 'data-url="/leoflow/openapi.json"' in page.text
        spec = (await client.get("/leoflow/openapi.json")).json()
        assert spec["servers"][0] == {"url": "/leoflow"}
        assert (await client.get("/leoflow/docs/scalar/standalone.js")).status_code == 200


async def test_docs_require_auth_when_configured(web_app_factory: Any, db_pool: Pool) -> None:
    app = web_app_factory(docs_require_auth=True)
    async for client in _client(app):
        user = await create_test_user(db_pool, "Viewer")
        token = security_of(app).auth.tokens.mint(user.username, tenants.DEFAULT_TENANT).token
        for path in ("/docs", "/openapi.json"):
            refused = await client.get(path)
            assert refused.status_code == 401, path
            assert refused.json() == {"detail": "Not authenticated"}
            forged = await client.get(path, headers=bearer(token[:-4] + "AAAA"))
            assert forged.status_code == 403, path
            assert (await client.get(path, headers=bearer(token))).status_code == 200, path
            client.cookies.set("_token", token)
            assert (await client.get(path)).status_code == 200, path  # the web UI's cookie
            client.cookies.clear()
        browser = await client.get("/docs", headers={"Accept": "text/html,*/*"})
        assert browser.status_code == 401
        assert "/api/v2/auth/login?next=" in browser.text and "Not authenticated" in browser.text
        assert "standalone.js" not in browser.text
        # Scalar's bundle is public code: it is not what the flag protects.
        assert (await client.get("/docs/scalar/standalone.js")).status_code == 200


async def test_docs_are_open_by_default(web_client: httpx.AsyncClient) -> None:
    assert (await web_client.get("/docs")).status_code == 200
    assert (await web_client.get("/openapi.json")).status_code == 200
