"""Serving the Airflow web app and its login page from the provisioned files.

What the browser gets, and why:

* every path that is not an API path → the app's ``index.html`` with ``<base href>`` filled
  with the path prefix, because the app derives its API prefix, router basename and
  translation URLs from it (deep links such as ``/dags/x/runs/y`` work the same way);
* ``/static/*`` → the app's files (``/assets/*`` too: some bundles reference chunks there);
* ``/auth/login`` and ``/auth/static/*`` → the login page, whose own ``<base href>`` is the
  app root (it derives ``auth/`` from it, as Airflow's does);
* ``/_leoflow/logo.svg`` → Leoflow's logo, named by ``/ui/config`` in place of Airflow's;
* when the files are not provisioned, an HTML page saying how to provision them (the API
  keeps working).

The SPA fallback is installed as the router's "no route matched" handler rather than as a
catch-all route, so it never shadows a route registered after it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send

from leoflow.config import Settings
from leoflow.web import branding
from leoflow.web.assets import (
    AIRFLOW_UI_VERSION,
    UiAssets,
    default_assets_dir,
    find_assets,
    precompress,
    provisioning_hint,
)
from leoflow.web.static import StaticFolder

BASE_PLACEHOLDER = "{{ backend_server_base_url }}"

API_PREFIXES = (
    "api/",
    "ui/",
    "auth/",
    "execution/",
    "static/",
    "assets/",
    "ide/",
    "docs/",
    f"{branding.BRAND_PATH}/",
)
"""First path segments that never fall back to the web app (an unknown API URL is a JSON
404, not an HTML page the client cannot parse)."""

API_EXACT = frozenset({"api", "ui", "auth", "ide", "docs", "redoc", "openapi.json", "health"})

_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class BaseUrlError(ValueError):
    """``LEOFLOW_BASE_URL`` is not a usable path prefix."""


def base_path(settings: Settings) -> str:
    """The path prefix of ``base_url`` without its trailing slash (``""`` at the root).

    A full URL (``https://host/leoflow/``) is accepted; only its path is used.
    """
    raw = settings.base_url.strip()
    parsed = urlparse(raw)
    path = parsed.path if parsed.scheme or parsed.netloc else raw
    path = "/" + path.strip("/")
    if any(ch in path for ch in "\"'<>\\ ?#%") or "//" in path or "/../" in f"{path}/":
        raise BaseUrlError(
            f"LEOFLOW_BASE_URL={settings.base_url!r} is not a plain path prefix; "
            "use something like /leoflow/"
        )
    return "" if path == "/" else path


def base_href(scope: Scope) -> str:
    """``<base href>`` for a request: the app's mount path with a trailing slash."""
    root = str(scope.get("root_path", "")).rstrip("/")
    return f"{root}/"


@dataclass
class WebState:
    """What the web layer of one app holds (``app.state.web``)."""

    settings: Settings
    assets_dir: Path
    assets: UiAssets | None
    ui: StaticFolder | None
    login: StaticFolder | None
    index_template: str
    login_template: str
    head_extra: str = ""
    """Markup added to the web app's ``<head>`` when it is served (Lite's editor adds the
    script that makes its navigation button open the editor)."""

    @property
    def instance_name(self) -> str:
        """The name shown in titles and on the dashboard."""
        return branding.instance_name(self.settings)


def get_web(request: Request) -> WebState:
    """The web state of the app serving ``request``."""
    state: WebState = request.app.state.web
    return state


def render_page(template: str, scope: Scope, title: str | None = None, head_extra: str = "") -> str:
    """An ``index.html`` template with its base filled (and the tab title and extra ``<head>``
    markup, when given)."""
    page = template.replace(BASE_PLACEHOLDER, html.escape(base_href(scope), quote=True))
    if title is not None:
        page = page.replace("<title>Airflow</title>", f"<title>{html.escape(title)}</title>", 1)
    if head_extra:
        page = page.replace("</head>", f"{head_extra}\n  </head>", 1)
    return page


def missing_assets_page(state: WebState) -> HTMLResponse:
    """The page served in place of the web app while its files are not provisioned."""
    name = html.escape(state.instance_name)
    hint = html.escape(provisioning_hint(state.assets_dir))
    where = html.escape(str(state.assets_dir))
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{name}: web UI not installed</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:4rem auto;padding:0 1rem;
line-height:1.5;color:#0f172a}}code{{background:#f1f5f9;padding:.1rem .3rem;border-radius:4px}}
</style></head>
<body><h1>The web UI is not installed yet</h1>
<p>{name} serves the web UI of Apache Airflow {AIRFLOW_UI_VERSION}, downloaded once from your
Python package index. Its files were not found in <code>{where}</code>.</p>
<p>{hint}</p>
<p>Then reload this page. The REST API works meanwhile: see
<a href="docs">the API documentation</a> and
<a href="api/v2/monitor/health">the health check</a>.</p>
</body></html>
"""
    return HTMLResponse(body, status_code=503, headers=_PAGE_HEADERS)


def _is_api_path(path: str) -> bool:
    relative = path.lstrip("/")
    return relative in API_EXACT or relative.startswith(API_PREFIXES)


def _not_found(path: str) -> JSONResponse:
    relative = path.lstrip("/")
    if relative == "health":
        detail = "Moved: the health check is GET /api/v2/monitor/health"
    elif relative.startswith("api/v1/") or relative == "api/v1":
        detail = "/api/v1 does not exist: Leoflow speaks the Airflow 3 API at /api/v2"
    else:
        detail = "Not Found"
    return JSONResponse({"detail": detail}, status_code=404)


def index_response(state: WebState, scope: Scope) -> Response:
    """The web app's entry page for any of its routes."""
    if state.assets is None:
        return missing_assets_page(state)
    page = render_page(state.index_template, scope, state.instance_name, state.head_extra)
    return HTMLResponse(page, headers=_PAGE_HEADERS)


class SpaFallback:
    """The router's "no route matched" handler: the web app for pages, JSON 404 for APIs."""

    def __init__(self, app: FastAPI, state: WebState) -> None:
        self._app = app
        self._state = state
        self._previous = app.router.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._previous(scope, receive, send)
            return
        path = get_route_path(scope)
        if scope["method"] in ("GET", "HEAD") and not _is_api_path(path):
            response = index_response(self._state, scope)
        else:
            response = _not_found(path)
        await response(scope, receive, send)


def _static(folder_of: str, prefix: str = "") -> Any:
    async def serve(request: Request, path: str) -> Response:
        state = get_web(request)
        folder: StaticFolder | None = getattr(state, folder_of)
        if folder is None:
            return missing_assets_page(state)
        response = folder.response(request, prefix + path)
        return response if response is not None else _not_found(request.url.path)

    return serve


async def login_page(request: Request) -> Response:
    """The login form (Airflow's own login page, posting to ``/auth/token``)."""
    state = get_web(request)
    if state.assets is None:
        return missing_assets_page(state)
    page = render_page(state.login_template, request.scope, f"Log in - {state.instance_name}")
    return HTMLResponse(page, headers=_PAGE_HEADERS)


async def logo(request: Request) -> Response:
    """Leoflow's logo (SVG)."""
    svg = branding.logo_svg(get_web(request).settings)
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"}
    )


def load_web_state(settings: Settings) -> WebState:
    """Find the provisioned files (compressing any that lack a ``.gz`` copy) and index them."""
    assets_dir = settings.ui_assets_dir or default_assets_dir(settings.home)
    assets = find_assets(assets_dir)
    if assets is None:
        return WebState(settings, assets_dir, None, None, None, "", "")
    precompress(assets.root)
    return WebState(
        settings=settings,
        assets_dir=assets_dir,
        assets=assets,
        ui=StaticFolder(assets.ui_dir),
        login=StaticFolder(assets.login_dir),
        index_template=(assets.ui_dir / "index.html").read_text(encoding="utf-8"),
        login_template=(assets.login_dir / "index.html").read_text(encoding="utf-8"),
    )


def install_web(app: FastAPI, settings: Settings) -> WebState:
    """Serve the web app, its login page and Leoflow's logo from ``app``.

    Call it after the API routers: only its fixed prefixes are routes; the page fallback
    answers whatever no route matched.
    """
    prefix = base_path(settings)
    if prefix:
        app.root_path = prefix
    state = load_web_state(settings)
    app.state.web = state
    methods = ["GET", "HEAD"]
    app.add_api_route(
        "/static/{path:path}", _static("ui"), methods=methods, include_in_schema=False
    )
    app.add_api_route(
        "/assets/{path:path}", _static("ui", "assets/"), methods=methods, include_in_schema=False
    )
    app.add_api_route(
        "/auth/static/{path:path}", _static("login"), methods=methods, include_in_schema=False
    )
    app.add_api_route("/auth/login", login_page, methods=methods, include_in_schema=False)
    app.add_api_route(
        f"/{branding.BRAND_PATH}/logo.svg", logo, methods=methods, include_in_schema=False
    )
    app.router.default = SpaFallback(app, state)
    return state


def describe(state: WebState) -> str:
    """One line for start-up banners: where the UI files are, or how to get them."""
    if state.assets is None:
        return f"not installed: {provisioning_hint()}"
    return f"Apache Airflow {AIRFLOW_UI_VERSION} web app from {state.assets_dir}"
