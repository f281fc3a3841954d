"""``/api/v2/config``: Leoflow is configured through ``LEOFLOW_*`` settings, not Airflow's
``airflow.cfg``; there is no Airflow configuration section to expose."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status

from leoflow.api.datamodels.not_applicable import Config
from leoflow.api.security import Permission, Principal, require

router = APIRouter(prefix="/api/v2/config", tags=["Config"])

Read = Annotated[Principal, Depends(require(Permission.CONFIG_READ))]


@router.get("")
async def get_config(principal: Read, section: str | None = None) -> Config:
    """Airflow configuration sections: none."""
    if section is not None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Section {section} not found.")
    return Config(sections=[])


@router.get("/section/{section}/option/{option}")
async def get_config_value(section: str, option: str, principal: Read) -> Config:
    """No Airflow option exists."""
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"Option [{section}/{option}] not found.")
