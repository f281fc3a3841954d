"""XCom: the small values tasks pass to each other, checked by one policy, kept by a backend.

The backend is chosen by the presence of ``LEOFLOW_REDIS_URL`` (ADR 0005): Redis with native
TTL when set, the metadata database's ``xcom`` table otherwise.
"""

from __future__ import annotations

from leoflow.config import Settings
from leoflow.store.pool import Database
from leoflow.xcom.backend import RunScope, StoredXCom, XComAddress, XComBackend
from leoflow.xcom.policy import (
    DEFAULT_MAX_SIZE_BYTES,
    DEFAULT_TTL_SECONDS,
    XComPolicy,
    XComRejected,
    XComRejectionReason,
)
from leoflow.xcom.postgres import PostgresXComBackend
from leoflow.xcom.service import XComService

__all__ = [
    "DEFAULT_MAX_SIZE_BYTES",
    "DEFAULT_TTL_SECONDS",
    "PostgresXComBackend",
    "RunScope",
    "StoredXCom",
    "XComAddress",
    "XComBackend",
    "XComPolicy",
    "XComRejected",
    "XComRejectionReason",
    "XComService",
    "build_xcom_service",
]


def build_xcom_service(settings: Settings, db: Database) -> XComService:
    """The XCom service this process uses: Redis when ``LEOFLOW_REDIS_URL`` is set, else
    Postgres; limits from the settings."""
    backend: XComBackend
    if settings.redis_url is not None:
        from leoflow.xcom.redis import RedisXComBackend

        backend = RedisXComBackend.from_url(settings.redis_url.get_secret_value())
    else:
        backend = PostgresXComBackend(db)
    policy = XComPolicy(
        max_size_bytes=settings.xcom_max_size_bytes,
        default_ttl_seconds=settings.xcom_default_ttl_seconds,
    )
    return XComService(backend, policy)
