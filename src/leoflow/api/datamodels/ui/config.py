"""``/ui/config`` and ``/ui/auth/*`` models."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import field_serializer

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel


class UIAlert(BaseModel):
    """A banner on the dashboard."""

    text: str
    category: Literal["info", "warning", "error"]


class Theme(BaseModel):
    """Overrides of the web app's look; Leoflow sets only its logo."""

    tokens: dict[str, Any] | None = None
    globalCss: dict[str, Any] | None = None
    icon: str | None = None
    icon_dark_mode: str | None = None


class ConfigResponse(BaseModel):
    """What the web app needs before it renders anything."""

    fallback_page_limit: int
    auto_refresh_interval: int
    hide_paused_dags_by_default: bool
    instance_name: str
    enable_swagger_ui: bool
    require_confirmation_dag_change: bool
    default_wrap: bool
    test_connection: str
    dashboard_alert: list[UIAlert]
    show_external_log_redirect: bool
    external_log_name: str | None = None
    theme: Theme | None
    multi_team: bool
    rerun_with_latest_version: bool | None = None

    @field_serializer("theme")
    def _theme(self, theme: Theme | None) -> dict[str, Any] | None:
        # Keys the web app tests with ``!== undefined`` must be absent, not null.
        return None if theme is None else theme.model_dump(exclude_none=True)


class MenuItem(StrEnum):
    """Navigation entries the web app enables when they are listed."""

    REQUIRED_ACTIONS = "Required Actions"
    ASSETS = "Assets"
    AUDIT_LOG = "Audit Log"
    CONFIG = "Config"
    CONNECTIONS = "Connections"
    DAGS = "Dags"
    DEADLINES = "Deadlines"
    DOCS = "Docs"
    JOBS = "Jobs"
    PLUGINS = "Plugins"
    POOLS = "Pools"
    PROVIDERS = "Providers"
    VARIABLES = "Variables"
    XCOMS = "XComs"


class ExtraMenuItem(BaseModel):
    """A link added to the navigation."""

    text: str
    href: str


class MenuItemCollectionResponse(BaseModel):
    """Which navigation entries the caller may use."""

    authorized_menu_items: list[MenuItem]
    extra_menu_items: list[ExtraMenuItem]


class AuthenticatedMeResponse(BaseModel):
    """The signed-in user (the user menu shows the name)."""

    id: str
    username: str


class TokenType(StrEnum):
    """Lifetime class of a generated token."""

    API = "api"
    CLI = "cli"


class GenerateTokenBody(StrictBaseModel):
    """Body of ``POST /ui/auth/token``."""

    token_type: TokenType = TokenType.API


class GenerateTokenResponse(BaseModel):
    """A token generated for the signed-in user."""

    access_token: str
    token_type: TokenType
    expires_in_seconds: int
