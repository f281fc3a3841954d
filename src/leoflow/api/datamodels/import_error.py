"""Import error models (Airflow's ``ImportErrorResponse``) and Leoflow's report body."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel


class ImportErrorResponse(BaseModel):
    """A DAG file that failed to compile."""

    import_error_id: int
    timestamp: datetime
    filename: str
    bundle_name: str | None
    stack_trace: str


class ImportErrorCollectionResponse(BaseModel):
    """A page of import errors."""

    import_errors: list[ImportErrorResponse]
    total_entries: int


class ImportErrorReport(StrictBaseModel):
    """A failing file, as the Lite watcher or a CI step reports it."""

    filename: str = Field(min_length=1)
    stack_trace: str = Field(min_length=1)
    dag_id: str | None = None
