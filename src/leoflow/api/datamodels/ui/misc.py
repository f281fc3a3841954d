"""Connection form metadata and the collections of features Leoflow does not have."""

from __future__ import annotations

from typing import Any

from leoflow.api.datamodels.common import BaseModel


class ConnectionHookFieldBehavior(BaseModel):
    """How the connection form shows one standard field."""

    hidden: bool = False
    title: str | None = None
    placeholder: str | None = None


class StandardHookFields(BaseModel):
    """Per standard field, how the form shows it (``None``: as usual)."""

    description: ConnectionHookFieldBehavior | None = None
    url_schema: ConnectionHookFieldBehavior | None = None
    host: ConnectionHookFieldBehavior | None = None
    port: ConnectionHookFieldBehavior | None = None
    login: ConnectionHookFieldBehavior | None = None
    password: ConnectionHookFieldBehavior | None = None


class ConnectionHookMetaData(BaseModel):
    """A connection type of the connection form."""

    connection_type: str | None
    hook_class_name: str | None
    default_conn_name: str | None
    hook_name: str
    standard_fields: StandardHookFields | None
    extra_fields: dict[str, Any] | None


class BackfillCollectionResponse(BaseModel):
    """Backfills (Leoflow has none: catch-up runs are ordinary scheduled runs)."""

    backfills: list[dict[str, Any]]
    total_entries: int


class TeamCollectionResponse(BaseModel):
    """Teams (Leoflow scopes by tenant instead)."""

    teams: list[dict[str, Any]]
    total_entries: int


class DeadlineCollectionResponse(BaseModel):
    """Deadlines of a run (not a Leoflow feature)."""

    deadlines: list[dict[str, Any]]
    total_entries: int


class DeadlineAlertCollectionResponse(BaseModel):
    """Deadline alerts of a DAG (not a Leoflow feature)."""

    deadline_alerts: list[dict[str, Any]]
    total_entries: int


class PartitionedDagRunCollectionResponse(BaseModel):
    """Partitioned runs (not a Leoflow feature)."""

    partitioned_dag_runs: list[dict[str, Any]]
    total: int
    asset_expressions: dict[str, Any] | None = None


class NextRunAssetsResponse(BaseModel):
    """Assets a DAG waits for (Leoflow schedules by time or by hand only)."""

    asset_expression: dict[str, Any] | None = None
    events: list[dict[str, Any]]
    pending_partition_count: int | None = None
