"""The REST API reference: ``/openapi.json``, and ``/docs`` rendered by Scalar from our origin.

* ``/openapi.json`` is FastAPI's generated OpenAPI 3.1 document (served here rather than by
  FastAPI so that it can require a caller when ``LEOFLOW_DOCS_REQUIRE_AUTH`` is on);
* ``/docs`` is a small page that loads Scalar's browser bundle from ``/docs/scalar/`` (the
  pinned ``@scalar/api-reference``, provisioned by ``leoflow setup``, see
  :mod:`leoflow.web.docs_assets`) and points it at ``/openapi.json``.

The page never reaches another origin: Scalar is configured without its web fonts, telemetry,
developer toolbar, agent or MCP integrations and its hosted client, and a
Content-Security-Policy limits scripts, styles, fonts, images and requests to ``'self'`` (inline
``<style>`` elements need a per-request nonce, found in ``<meta property="csp-nonce">``), so
that even a forgotten CDN URL is blocked by the browser. Without the provisioned bundle
``/docs`` answers 503 naming ``leoflow setup``; it never falls back to a CDN.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from leoflow.api.security import authenticated, bearer_scheme
from leoflow.config import Settings
from leoflow.web import branding
from leoflow.web.docs_assets import (
    BUNDLE,
    SCALAR_VERSION,
    DocsAssets,
    docs_assets_dir,
    docs_hint,
    find_docs_assets,
)
from leoflow.web.static import StaticFolder

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"
SCALAR_PATH = f"{DOCS_PATH}/scalar"
NONCE_SCRIPT_PATH = f"{DOCS_PATH}/style-nonce.js"
NONCE_SCRIPT = Path(__file__).with_name("docs_client") / "style-nonce.js"
"""Runs before Scalar: gives the page's CSP nonce to the ``<style>`` elements scripts create."""

_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class DocsState:
    """What the API reference of one app serves (``app.state.docs``)."""

    settings: Settings
    assets_dir: Path
    assets: DocsAssets | None = None
    files: StaticFolder | None = None

    def bundle(self) -> StaticFolder | None:
        """Scalar's files, looked for again while missing, so that running ``leoflow setup``
        beside a running server is enough (a reload of the page, no restart)."""
        if self.files is None:
            self.assets = find_docs_assets(self.assets_dir)
            if self.assets is not None:
                self.files = StaticFolder(self.assets.browser_dir, immutable_prefixes=())
        return self.files


def get_docs(request: Request) -> DocsState:
    """The API reference state of the app serving ``request``."""
    state: DocsState = request.app.state.docs
    return state


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def scalar_configuration(title: str) -> dict[str, Any]:
    """Scalar's configuration: everything that would reach another origin switched off."""
    return {
        "title": title,
        "withDefaultFonts": False,  # its fonts come from a CDN; the system's are used instead
        "telemetry": False,
        "showDeveloperTools": "never",  # the toolbar offers to share the document online
        "agent": {"disabled": True},
        "mcp": {"disabled": True},
        "hideClientButton": True,  # the hosted client is another site; "Test Request" stays
        "documentDownloadType": "json",
        "persistAuth": False,
        "theme": "default",
        "metaData": {"title": title},
    }


def content_security_policy(nonce: str) -> str:
    """The page's policy: everything from this origin only. Inline ``<style>`` elements need
    the request's nonce (``style-nonce.js`` gives it to those Scalar's scripts create); inline
    ``style`` attributes are allowed, as Scalar sets them on what it renders, and cannot load
    anything: the images and fonts they could name stay bound to ``'self'``."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            f"style-src-elem 'self' 'nonce-{nonce}'",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'self'",
            "object-src 'none'",
        ]
    )


def docs_page(root: str, title: str, nonce: str) -> str:
    """The HTML of ``/docs`` for an app mounted at ``root`` (``""`` at the site root)."""
    configuration = json.dumps(scalar_configuration(title), separators=(",", ":"))
    openapi = html.escape(f"{root}{OPENAPI_PATH}", quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta property="csp-nonce" content="{nonce}">
<title>{html.escape(title)}</title>
<link rel="icon" type="image/svg+xml" href="{html.escape(root)}/{branding.BRAND_PATH}/logo.svg">
</head>
<body>
<noscript>The API reference needs JavaScript. The OpenAPI document is at
<a href="{openapi}">{openapi}</a>.</noscript>
<script id="api-reference" type="application/json" data-url="{openapi}"
 data-configuration="{html.escape(configuration, quote=True)}"></script>
<script src="{html.escape(root)}{NONCE_SCRIPT_PATH}"></script>
<script src="{html.escape(root)}{SCALAR_PATH}/{BUNDLE}"></script>
</body>
</html>
"""


def missing_renderer_page(state: DocsState) -> HTMLResponse:
    """503 while Scalar is not provisioned: what is missing, where, and the command that
    fixes it (the OpenAPI document itself is still served)."""
    hint = html.escape(docs_hint(state.assets_dir))
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>API reference not installed</title></head>
<body><h1>The API reference renderer is not installed</h1>
<p>/docs renders the REST API reference with Scalar (@scalar/api-reference {SCALAR_VERSION}),
served by this server itself. Its files were not found in
<code>{html.escape(str(state.assets_dir))}</code>.</p>
<p>{hint}</p>
<p>Then reload this page. Meanwhile the OpenAPI document is at
<a href="openapi.json">openapi.json</a>.</p>
</body></html>
"""
    return HTMLResponse(body, status_code=503, headers={"Cache-Control": "no-store"})


def _refusal(request: Request, error: HTTPException) -> Response:
    """The answer to an unauthenticated caller: JSON like every API route, or for a browser
    asking for the page, the same status with a link to the login page."""
    headers = dict(error.headers or {})
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": error.detail}, error.status_code, headers=headers)
    login = f"{_root(request)}/api/v2/auth/login?" + urlencode({"next": str(request.url)})
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in to see the API reference</title>
</head><body><h1>Log in to see the API reference</h1>
<p>This server shows its API reference to signed-in users only ({html.escape(error.detail)}).
<a href="{html.escape(login, quote=True)}">Log in</a>, then come back to this page.</p>
</body></html>
"""
    return HTMLResponse(body, error.status_code, headers={**headers, **_PAGE_HEADERS})


async def _gate(request: Request) -> Response | None:
    """``None`` when the caller may read the reference, else the refusal to answer."""
    if not get_docs(request).settings.docs_require_auth:
        return None
    try:
        await authenticated(request, None, await bearer_scheme(request))
    except HTTPException as exc:
        return _refusal(request, exc)
    return None


def openapi_route(app: FastAPI) -> Any:
    """``GET /openapi.json``: FastAPI's document, with the mount path as its first server when
    the app is served under a prefix (what FastAPI's own route does)."""

    async def openapi(request: Request) -> Response:
        refused = await _gate(request)
        if refused is not None:
            return refused
        schema = app.openapi()
        root = _root(request)
        if root and app.root_path_in_servers:
            servers = schema.get("servers", [])
            if root not in {server.get("url") for server in servers}:
                schema = {**schema, "servers": [{"url": root}, *servers]}
        return JSONResponse(schema)

    return openapi


async def docs(request: Request) -> Response:
    """``GET /docs``: the page, or 503 naming ``leoflow setup`` while Scalar is missing."""
    refused = await _gate(request)
    if refused is not None:
        return refused
    state = get_docs(request)
    if state.bundle() is None:
        return missing_renderer_page(state)
    nonce = secrets.token_urlsafe(18)
    page = docs_page(_root(request), f"{request.app.title} reference", nonce)
    headers = {**_PAGE_HEADERS, "Content-Security-Policy": content_security_policy(nonce)}
    return HTMLResponse(page, headers=headers)


async def scalar_file(request: Request, path: str) -> Response:
    """``GET /docs/scalar/{path}``: Scalar's bundle (public code: served without a token)."""
    state = get_docs(request)
    folder = state.bundle()
    if folder is None:
        return missing_renderer_page(state)
    response = folder.response(request, path)
    if response is None:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    return response


async def nonce_script(request: Request) -> Response:
    """``GET /docs/style-nonce.js`` (see :data:`NONCE_SCRIPT`)."""
    return Response(
        NONCE_SCRIPT.read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


def install_api_docs(app: FastAPI, settings: Settings) -> DocsState:
    """Serve ``/openapi.json``, ``/docs`` and Scalar's files from ``app`` (built with
    ``openapi_url=None, docs_url=None, redoc_url=None``: FastAPI's own pages load their
    JavaScript from a CDN)."""
    state = DocsState(settings=settings, assets_dir=docs_assets_dir(settings))
    state.bundle()
    app.state.docs = state
    methods = ["GET", "HEAD"]
    app.add_api_route(OPENAPI_PATH, openapi_route(app), methods=methods, include_in_schema=False)
    app.add_api_route(DOCS_PATH, docs, methods=methods, include_in_schema=False)
    app.add_api_route(NONCE_SCRIPT_PATH, nonce_script, methods=methods, include_in_schema=False)
    app.add_api_route(
        f"{SCALAR_PATH}/{{path:path}}", scalar_file, methods=methods, include_in_schema=False
    )
    return state
