"""``/ui/config`` and ``/ui/auth/*``: what the web app needs before it renders.

The navigation enables an entry only when ``/ui/auth/menus`` lists it, so an entry is listed
only when the caller may use it *and* this server has the API routes behind its page: a page
that would only show errors is not offered.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.routing import Match

from leoflow.api.common.resources import get_settings
from leoflow.api.datamodels.ui.config import (
    AuthenticatedMeResponse,
    ConfigResponse,
    ExtraMenuItem,
    GenerateTokenBody,
    GenerateTokenResponse,
    MenuItem,
    MenuItemCollectionResponse,
    Theme,
    TokenType,
    UIAlert,
)
from leoflow.api.routes._audit import record_action
from leoflow.api.security import CurrentPrincipal, Permission, get_security
from leoflow.config import Settings
from leoflow.web import branding
from leoflow.web.spa import base_href

router = APIRouter()

AUTO_REFRESH_SECONDS = 3
PAGE_LIMIT = 50

_XCOM_LIST = "/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries"

MENU_REQUIREMENTS: dict[MenuItem, tuple[str | None, Permission | None]] = {
    MenuItem.DAGS: ("/api/v2/dags", Permission.DAGS_READ),
    MenuItem.AUDIT_LOG: ("/api/v2/eventLogs", Permission.AUDIT_READ),
    MenuItem.CONNECTIONS: ("/api/v2/connections", Permission.CONNECTIONS_READ),
    MenuItem.VARIABLES: ("/api/v2/variables", Permission.VARIABLES_READ),
    MenuItem.XCOMS: (_XCOM_LIST, Permission.XCOM_READ),
    MenuItem.POOLS: ("/api/v2/pools", Permission.POOLS_READ),
    MenuItem.CONFIG: ("/api/v2/config", Permission.CONFIG_READ),
    MenuItem.PLUGINS: ("/api/v2/plugins", None),
    MenuItem.PROVIDERS: ("/api/v2/providers", None),
    MenuItem.JOBS: ("/api/v2/jobs", None),
    MenuItem.DOCS: (None, None),
}
"""Per navigation entry: the GET route its page lists from, and the permission it needs.

Assets, Required Actions (human-in-the-loop) and Deadlines are features Leoflow does not
have: their pages would only ever be empty, so they are never offered."""


def serves(app: FastAPI, method: str, path: str) -> bool:
    """Whether ``app`` has a route answering ``method path`` (a concrete path)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": "",
        "headers": [],
        "query_string": b"",
    }
    return any(route.matches(scope)[0] is Match.FULL for route in app.router.routes)


def _served_menus(app: FastAPI) -> dict[MenuItem, Permission | None]:
    """Menu entries whose page this app can serve (computed once per app)."""
    cached: dict[MenuItem, Permission | None] | None = getattr(app.state, "ui_menus", None)
    if cached is None:
        cached = {
            item: permission
            for item, (route, permission) in MENU_REQUIREMENTS.items()
            if route is None or serves(app, "GET", route)
        }
        app.state.ui_menus = cached
    return cached


def _alerts(settings: Settings) -> list[UIAlert]:
    if settings.edition != "lite":
        return []
    return [
        UIAlert(
            text="Leoflow Lite runs every task as a process on this machine, without "
            "isolation between tasks. Leoflow uses the Apache Airflow web UI and is not "
            "affiliated with or endorsed by the Apache Software Foundation.",
            category="info",
        )
    ]


@router.get("/config")
async def get_configs(
    request: Request,
    _principal: CurrentPrincipal,
    settings: Annotated[Settings, Depends(get_settings)],
) -> ConfigResponse:
    """Settings the web app reads at start (name, logo, refresh interval, page size)."""
    logo = branding.logo_url(base_href(request.scope))
    return ConfigResponse(
        fallback_page_limit=PAGE_LIMIT,
        auto_refresh_interval=AUTO_REFRESH_SECONDS,
        hide_paused_dags_by_default=False,
        instance_name=branding.instance_name(settings),
        enable_swagger_ui=True,
        require_confirmation_dag_change=False,
        default_wrap=False,
        test_connection="Enabled" if settings.test_connection == "enabled" else "Disabled",
        dashboard_alert=_alerts(settings),
        show_external_log_redirect=False,
        external_log_name=None,
        theme=Theme(icon=logo, icon_dark_mode=logo),
        multi_team=False,
        rerun_with_latest_version=None,
    )


@router.get("/auth/menus")
async def get_auth_menus(
    request: Request, principal: CurrentPrincipal
) -> MenuItemCollectionResponse:
    """Navigation entries the caller may use on this server."""
    items = [
        item
        for item, permission in _served_menus(request.app).items()
        if permission is None or principal.can(permission)
    ]
    extra: list[ExtraMenuItem] = []
    return MenuItemCollectionResponse(authorized_menu_items=items, extra_menu_items=extra)


@router.get("/auth/me")
async def get_current_user_info(principal: CurrentPrincipal) -> AuthenticatedMeResponse:
    """The signed-in user."""
    return AuthenticatedMeResponse(id=str(principal.user_id), username=principal.username)


@router.post("/auth/token")
async def generate_token(
    request: Request, body: GenerateTokenBody, principal: CurrentPrincipal
) -> GenerateTokenResponse:
    """A new token for the signed-in user (the user menu's "Generate token" dialog)."""
    auth = get_security(request).auth
    lifetime = (
        auth.cli_expiration_seconds
        if body.token_type is TokenType.CLI
        else auth.tokens.expiration_seconds
    )
    issued = auth.tokens.mint(
        principal.username, principal.tenant, tuple(principal.roles), expires_in=lifetime
    )
    await record_action(request, principal, "generate_token", token_type=body.token_type.value)
    return GenerateTokenResponse(
        access_token=issued.token, token_type=body.token_type, expires_in_seconds=lifetime
    )
