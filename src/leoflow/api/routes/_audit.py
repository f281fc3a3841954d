"""Audit entries for changes made through the API (Airflow's "action logging").

The event name is the Airflow operation id (``post_variable``, ``delete_connection``…), which
is what Airflow's own audit log shows. ``extra`` carries identifiers only, never values.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from leoflow.api.security import Principal, get_security


async def record_action(request: Request, principal: Principal, event: str, **extra: Any) -> None:
    """Append an audit entry for a change ``principal`` made."""
    await get_security(request).auth.audit(principal.tenant_id, event, principal.username, **extra)
