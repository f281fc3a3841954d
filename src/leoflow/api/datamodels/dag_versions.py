"""DAG versions (Airflow's ``DagVersionResponse``) and Leoflow's version registration."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from leoflow.api.datamodels.common import BaseModel


class DagVersionResponse(BaseModel):
    """One version of a DAG."""

    id: UUID
    version_number: int
    dag_id: str
    bundle_name: str | None
    bundle_version: str | None
    created_at: datetime
    dag_display_name: str
    bundle_url: str | None


class DAGVersionCollectionResponse(BaseModel):
    """A page of DAG versions."""

    dag_versions: list[DagVersionResponse]
    total_entries: int


class DagVersionRegistration(BaseModel):
    """Answer to a pushed ``dag.json``: the version it is, and whether it was new."""

    dag_id: str
    version_number: int
    version_id: UUID
    spec_hash: str
    created: bool
    created_at: datetime
    is_paused: bool
