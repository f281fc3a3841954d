"""The metadata store: PostgreSQL through psycopg 3, hand-written SQL, one module per aggregate.

* :mod:`~leoflow.store.schema` — Alembic migrations (``migrate``, ``check``);
* :mod:`~leoflow.store.pool` — the async connection pool;
* :mod:`~leoflow.store.tenants`, :mod:`~leoflow.store.dags`, :mod:`~leoflow.store.dag_versions`,
  :mod:`~leoflow.store.dag_runs`, :mod:`~leoflow.store.task_instances` — the aggregates;
* :mod:`~leoflow.store.leadership` — advisory-lock leader election with a watchdog;
* :mod:`~leoflow.store.wakeups` — ``LISTEN``/``NOTIFY`` wake-ups.

Every state change is one guarded compare-and-set statement; nothing here reads a state and
then writes it unguarded.
"""

from leoflow.store.pool import Connection, Database, Pool, acquire, create_pool
from leoflow.store.schema import (
    DatabaseAheadError,
    DatabaseUnavailableError,
    MigrationResult,
    MigrationStatus,
    SchemaError,
    SchemaState,
    check,
    current_revision,
    head_revision,
    migrate,
)

__all__ = [
    "Connection",
    "Database",
    "DatabaseAheadError",
    "DatabaseUnavailableError",
    "MigrationResult",
    "MigrationStatus",
    "Pool",
    "SchemaError",
    "SchemaState",
    "acquire",
    "check",
    "create_pool",
    "current_revision",
    "head_revision",
    "migrate",
]
