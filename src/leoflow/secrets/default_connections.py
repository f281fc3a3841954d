"""Airflow's well-known default connections (``POST /api/v2/connections/defaults``).

Airflow users reference connections such as ``postgres_default`` or ``http_default`` without
creating them, because ``airflow db init`` / the API's "create defaults" seeds them. Leoflow
seeds the same ids with the same types and placeholder endpoints for the providers a task most
often uses, so a DAG moved from Airflow finds them. They carry no password: set the real
credentials with ``PATCH /connections/{id}``. Only missing ids are created; a connection that
exists is never touched, so running it twice changes nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from uuid import UUID

from leoflow.secrets.cipher import SecretCipher
from leoflow.secrets.connections import EXTRA, seal
from leoflow.store import connections as store
from leoflow.store.pool import Database, acquire


@dataclass(frozen=True)
class DefaultConnection:
    """One default: its id, type and placeholder endpoint (never a secret)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    port: int | None = None
    schema: str | None = None
    login: str | None = None
    extra: dict[str, object] | None = None


DEFAULT_CONNECTIONS: tuple[DefaultConnection, ...] = (
    DefaultConnection("aws_default", "aws"),
    DefaultConnection(
        "elasticsearch_default", "elasticsearch", host="localhost", port=9200, schema="http"
    ),
    DefaultConnection("fs_default", "fs", extra={"path": "/"}),
    DefaultConnection("ftp_default", "ftp", host="localhost", port=21, login="airflow"),
    DefaultConnection("google_cloud_default", "google_cloud_platform", schema="default"),
    DefaultConnection("http_default", "http", host="https://www.httpbin.org/"),
    DefaultConnection(
        "kafka_default",
        "kafka",
        extra={"bootstrap.servers": "broker:29092", "group.id": "my-group"},
    ),
    DefaultConnection("kubernetes_default", "kubernetes"),
    DefaultConnection("mongo_default", "mongo", host="mongo", port=27017),
    DefaultConnection("mssql_default", "mssql", host="localhost", port=1433),
    DefaultConnection("mysql_default", "mysql", host="mysql", schema="airflow", login="root"),
    DefaultConnection(
        "postgres_default", "postgres", host="postgres", schema="airflow", login="postgres"
    ),
    DefaultConnection("redis_default", "redis", host="redis", port=6379, extra={"db": 0}),
    DefaultConnection("sftp_default", "sftp", host="localhost", port=22, login="airflow"),
    DefaultConnection("spark_default", "spark", host="yarn", extra={"queue": "root.default"}),
    DefaultConnection("sqlite_default", "sqlite", host="/tmp/sqlite_default.db"),
    DefaultConnection("ssh_default", "ssh", host="localhost"),
    DefaultConnection("trino_default", "trino", host="localhost", port=3400, schema="hive"),
)
"""The defaults, by id (the same ids, types and placeholders as Airflow's)."""


def _new(cipher: SecretCipher, tenant_id: UUID, default: DefaultConnection) -> store.NewConnection:
    row_id = uuid.uuid4()
    extra = json.dumps(default.extra) if default.extra is not None else None
    return store.NewConnection(
        id=row_id,
        tenant_id=tenant_id,
        conn_id=default.conn_id,
        conn_type=default.conn_type,
        host=default.host,
        schema=default.schema,
        login=default.login,
        port=default.port,
        extra_encrypted=seal(cipher, tenant_id, row_id, EXTRA, extra),
    )


async def create_default_connections(
    db: Database, cipher: SecretCipher, tenant_id: UUID
) -> list[str]:
    """Create the defaults the tenant does not have yet; the ids created, in order."""
    created: list[str] = []
    async with acquire(db) as conn, conn.transaction():
        existing = await store.get_connections(
            conn, tenant_id, [d.conn_id for d in DEFAULT_CONNECTIONS]
        )
        for default in DEFAULT_CONNECTIONS:
            if default.conn_id in existing:
                continue
            try:
                await store.insert_connection(conn, _new(cipher, tenant_id, default))
            except store.ConnectionExistsError:  # created concurrently: leave it as it is
                continue
            created.append(default.conn_id)
    return created
