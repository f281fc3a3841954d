"""Collections of Airflow features Leoflow does not have: plugins, providers, pools, assets,
backfills, configuration sections.

Their endpoints exist so the Airflow UI and clients get a true, schema-valid answer ("there are
none") instead of a 404. Item types are the ones Airflow documents, so the answer stays valid
if one of these features is implemented later.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leoflow.api.datamodels.common import BaseModel


class PluginResponse(BaseModel):
    """An Airflow plugin (Leoflow loads none: it never imports user code)."""

    name: str
    macros: list[str]
    flask_blueprints: list[str]
    fastapi_apps: list[dict[str, Any]]
    fastapi_root_middlewares: list[dict[str, Any]]
    external_views: list[dict[str, Any]]
    react_apps: list[dict[str, Any]]
    appbuilder_views: list[dict[str, Any]]
    appbuilder_menu_items: list[dict[str, Any]]
    global_operator_extra_links: list[str]
    operator_extra_links: list[str]
    source: str
    listeners: list[str]
    timetables: list[str]


class PluginCollectionResponse(BaseModel):
    """Installed plugins."""

    plugins: list[PluginResponse]
    total_entries: int


class PluginImportErrorResponse(BaseModel):
    """A plugin that failed to load."""

    source: str
    error: str


class PluginImportErrorCollectionResponse(BaseModel):
    """Plugins that failed to load."""

    import_errors: list[PluginImportErrorResponse]
    total_entries: int


class ProviderResponse(BaseModel):
    """An installed Airflow provider package."""

    package_name: str
    description: str
    version: str
    documentation_url: str | None


class ProviderCollectionResponse(BaseModel):
    """Installed provider packages."""

    providers: list[ProviderResponse]
    total_entries: int


class PoolResponse(BaseModel):
    """A pool of task slots."""

    name: str
    slots: int
    description: str | None = None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int
    deferred_slots: int
    team_name: str | None


class PoolCollectionResponse(BaseModel):
    """A page of pools."""

    pools: list[PoolResponse]
    total_entries: int


class AssetCollectionResponse(BaseModel):
    """A page of assets."""

    assets: list[dict[str, Any]]
    total_entries: int


class AssetEventCollectionResponse(BaseModel):
    """A page of asset events."""

    asset_events: list[dict[str, Any]]
    total_entries: int


class AssetAliasCollectionResponse(BaseModel):
    """A page of asset aliases."""

    asset_aliases: list[dict[str, Any]]
    total_entries: int


class QueuedEventCollectionResponse(BaseModel):
    """Asset events queued for a DAG."""

    queued_events: list[dict[str, Any]]
    total_entries: int


class BackfillResponse(BaseModel):
    """A backfill of a DAG."""

    id: int
    dag_id: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any] | None
    is_paused: bool
    reprocess_behavior: str
    max_active_runs: int
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    dag_display_name: str


class BackfillCollectionResponse(BaseModel):
    """A page of backfills."""

    backfills: list[BackfillResponse]
    total_entries: int


class ConfigOption(BaseModel):
    """One configuration option."""

    key: str
    value: str | list[Any]


class ConfigSection(BaseModel):
    """One configuration section."""

    name: str
    options: list[ConfigOption]


class Config(BaseModel):
    """Configuration sections exposed through the API."""

    sections: list[ConfigSection]
