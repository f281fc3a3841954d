"""Import errors: why a DAG file of a tenant could not be compiled, one row per file.

Leoflow compiles DAG files outside the control plane (``leoflow compile`` in CI, the Lite
workspace watcher), so import errors are reported in: a failing file is upserted, a file that
compiles again (or disappears) is cleared. A row may name the DAG the file defines, so that DAG
shows ``has_import_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from psycopg.rows import class_row

from leoflow.store._filters import Where
from leoflow.store._listing import OrderBy, order_clause
from leoflow.store.pool import Database, acquire

COLUMNS = "import_error_id, tenant_id, filename, dag_id, stacktrace, created_at"

SORT_COLUMNS: Mapping[str, str] = {
    "id": "import_error_id",
    "import_error_id": "import_error_id",
    "timestamp": "created_at",
    "filename": "filename",
    "bundle_name": "NULL::text",
    "stacktrace": "stacktrace",
    "stack_trace": "stacktrace",
}
"""Attributes a list can be ordered by (Airflow's names) and their SQL."""


@dataclass(frozen=True)
class ImportError_:
    """One file that failed to compile. (Named so it does not shadow the builtin.)"""

    import_error_id: int
    tenant_id: UUID
    filename: str
    dag_id: str | None
    stacktrace: str
    created_at: datetime


async def upsert_import_error(
    db: Database, tenant_id: UUID, filename: str, stacktrace: str, *, dag_id: str | None = None
) -> tuple[ImportError_, bool]:
    """Record that ``filename`` fails; returns ``(row, created)``.

    A file already recorded keeps its id and gets the new stack trace and timestamp.
    """
    async with acquire(db) as conn:
        cur = await conn.execute(
            f"""
            INSERT INTO import_errors (tenant_id, filename, stacktrace, dag_id)
            VALUES (%s, %s, %s, %s)
            ON CONFLICT (tenant_id, filename) DO UPDATE
                SET stacktrace = EXCLUDED.stacktrace, dag_id = EXCLUDED.dag_id,
                    created_at = now()
            RETURNING {COLUMNS}, (xmax = 0) AS inserted
            """,
            (tenant_id, filename, stacktrace, dag_id),
        )
        row = await cur.fetchone()
    assert row is not None  # INSERT … ON CONFLICT DO UPDATE always returns the row
    # ``xmax = 0`` only for a freshly inserted row version (an update sets it).
    return ImportError_(*row[:-1]), bool(row[-1])


async def clear_import_errors(
    db: Database, tenant_id: UUID, *, filename: str | None = None, dag_id: str | None = None
) -> int:
    """Forget the errors of ``filename`` and/or ``dag_id`` (all of the tenant's when neither)."""
    where = Where()
    where.add("tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    where.equals("filename", filename)
    where.equals("dag_id", dag_id)
    async with acquire(db) as conn:
        cur = await conn.execute(f"DELETE FROM import_errors {where.sql()}", where.params)
        return cur.rowcount


async def list_import_errors(
    db: Database,
    tenant_id: UUID,
    *,
    filename: str | None = None,
    filename_pattern: str | None = None,
    filename_prefix: str | None = None,
    order_by: OrderBy = (("id", False),),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ImportError_], int]:
    """One page of the tenant's import errors and how many match in total."""
    where = Where()
    where.add("tenant_id = %(tenant_id)s", tenant_id=tenant_id)
    where.equals("filename", filename)
    where.pattern("filename", filename_pattern)
    where.prefix("filename", filename_prefix)
    params = {**where.params, "limit": limit, "offset": offset}
    order = order_clause(order_by, SORT_COLUMNS, "import_error_id")
    async with acquire(db) as conn:
        cur = await conn.execute(f"SELECT count(*) FROM import_errors {where.sql()}", params)
        total_row = await cur.fetchone()
        rows = conn.cursor(row_factory=class_row(ImportError_))
        await rows.execute(
            f"SELECT {COLUMNS} FROM import_errors {where.sql()} {order} "
            "LIMIT %(limit)s OFFSET %(offset)s",
            params,
        )
        page = await rows.fetchall()
    return page, int(total_row[0]) if total_row else 0


async def get_import_error(
    db: Database, tenant_id: UUID, import_error_id: int
) -> ImportError_ | None:
    """One import error of the tenant by its id."""
    async with acquire(db) as conn:
        cur = conn.cursor(row_factory=class_row(ImportError_))
        await cur.execute(
            f"SELECT {COLUMNS} FROM import_errors WHERE tenant_id = %s AND import_error_id = %s",
            (tenant_id, import_error_id),
        )
        return await cur.fetchone()
