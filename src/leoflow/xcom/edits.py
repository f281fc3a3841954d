"""XCom entries written by a person (Airflow's ``POST``/``PATCH``/``DELETE …/xcomEntries``).

An operator may seed, correct or remove a value a task pushed (to unblock a downstream task,
to replay a run with a fixed input). The value takes the same road as a task's push: the
policy checks it (size limit, JSON, the task's ``xcom_schema`` for ``return_value``) and the
configured backend keeps it with the DAG's ``xcom_ttl_seconds``, so a downstream task reads
it exactly as if its upstream had returned it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leoflow.xcom.backend import StoredXCom, XComAddress
from leoflow.xcom.service import XComService


class XComEntryExists(Exception):
    """A create found a live value at the address (Airflow answers 409)."""


class XComEntryMissing(Exception):
    """An update or delete found no live value at the address (Airflow answers 404)."""


async def create_entry(
    xcom: XComService,
    address: XComAddress,
    value: Any,
    *,
    schema: Mapping[str, Any] | None = None,
    dag_ttl_seconds: int | None = None,
) -> StoredXCom:
    """Store a new value; :class:`XComEntryExists` when one is already live there.

    :class:`~leoflow.xcom.policy.XComRejected` says why a value cannot be stored.
    """
    if await xcom.pull(address) is not None:
        raise XComEntryExists(address.key or "return_value")
    return await xcom.push_json(address, value, schema=schema, dag_ttl_seconds=dag_ttl_seconds)


async def update_entry(
    xcom: XComService,
    address: XComAddress,
    value: Any,
    *,
    schema: Mapping[str, Any] | None = None,
    dag_ttl_seconds: int | None = None,
) -> StoredXCom:
    """Replace a live value (its lifetime starts over); :class:`XComEntryMissing` otherwise."""
    if await xcom.pull(address) is None:
        raise XComEntryMissing(address.key or "return_value")
    return await xcom.push_json(address, value, schema=schema, dag_ttl_seconds=dag_ttl_seconds)


async def delete_entry(xcom: XComService, address: XComAddress) -> None:
    """Forget a live value; :class:`XComEntryMissing` when there is none."""
    if not await xcom.delete(address):
        raise XComEntryMissing(address.key or "return_value")
