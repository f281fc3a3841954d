"""Task log models (Airflow's ``TaskInstancesLogResponse``, ``StructuredLogMessage``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from leoflow.api.datamodels.common import BaseModel


class StructuredLogMessage(BaseModel):
    """One log line: ``event`` is the text; ``level``, ``logger`` … come as extra keys."""

    model_config = ConfigDict(extra="allow")

    timestamp: datetime | None = Field(default=None, exclude_if=lambda value: value is None)
    """Left out of the answer when a line has none (the schema allows absent, not null)."""
    event: str


class TaskInstancesLogResponse(BaseModel):
    """A chunk of a try's log and the token to read what follows."""

    content: list[StructuredLogMessage] | list[str]
    continuation_token: str | None
