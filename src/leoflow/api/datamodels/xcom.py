"""XCom models (Airflow's ``XComResponse``, ``XComResponseNative``, ``XComResponseString``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from leoflow.api.datamodels.common import BaseModel, StrictBaseModel


class XComResponse(BaseModel):
    """An XCom entry without its value (lists)."""

    key: str
    timestamp: datetime
    logical_date: datetime | None
    map_index: int
    task_id: str
    dag_id: str
    run_id: str
    dag_display_name: str
    task_display_name: str
    run_after: datetime


class XComResponseNative(XComResponse):
    """An XCom entry with its value as JSON."""

    value: Any


class XComResponseString(XComResponse):
    """An XCom entry with its value as text."""

    value: str | None


class XComCollectionResponse(BaseModel):
    """A page of XCom entries."""

    xcom_entries: list[XComResponse]
    total_entries: int


class XComCreateBody(StrictBaseModel):
    """Payload serializer for creating an XCom entry."""

    key: str
    value: Any
    map_index: int = -1


class XComUpdateBody(StrictBaseModel):
    """Payload serializer for updating an XCom entry."""

    value: Any
    map_index: int = -1
