"""The source of a DAG version (Airflow's ``DAGSourceResponse``)."""

from __future__ import annotations

from leoflow.api.datamodels.common import BaseModel


class DAGSourceResponse(BaseModel):
    """The DAG file text of one version."""

    content: str | None
    dag_id: str
    version_number: int | None
    dag_display_name: str
