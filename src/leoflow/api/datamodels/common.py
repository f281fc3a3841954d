"""Base classes and small shared types of the Airflow-shaped models."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel as PydanticBaseModel
from pydantic import ConfigDict, Field


class BaseModel(PydanticBaseModel):
    """A response model: built by the API from store rows, never parsed from clients."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class StrictBaseModel(PydanticBaseModel):
    """A request body: unknown keys are refused with 422, as Airflow does."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TimeDelta(BaseModel):
    """A duration in Airflow's serialized form."""

    type_: str = Field(default="TimeDelta", alias="__type")
    days: int
    seconds: int
    microseconds: int

    @classmethod
    def of(cls, value: timedelta | float | None) -> TimeDelta | None:
        """``value`` (a timedelta or seconds) in this form; ``None`` stays ``None``."""
        if value is None:
            return None
        delta = value if isinstance(value, timedelta) else timedelta(seconds=float(value))
        return cls(
            type_="TimeDelta",
            days=delta.days,
            seconds=delta.seconds,
            microseconds=delta.microseconds,
        )
