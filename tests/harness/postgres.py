"""A real PostgreSQL for tests: an external server if given, else an embedded one.

``LEOFLOW_TEST_DATABASE_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``) names a
server and a maintenance database on it; the user must be allowed to create databases. Without
it, an embedded PostgreSQL is started in a temporary directory for the session.

Speed comes from templates: the schema is migrated once per session into a template database,
and every test gets ``CREATE DATABASE … TEMPLATE`` — a file copy, milliseconds — dropped after.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.store.dsn import redact, with_database
from leoflow.store.schema import migrate

ENV_VAR = "LEOFLOW_TEST_DATABASE_URL"


@dataclass
class TestServer:
    """The server tests run against and how it was chosen."""

    __test__ = False  # not a test class, despite the name

    url: str
    description: str
    data_dir: Path | None = None

    def stop(self) -> None:
        """Stop the server if the harness started it."""
        if self.data_dir is not None:
            stop_embedded_postgres(self.data_dir)


def describe_choice() -> str:
    """One line for the pytest header: which PostgreSQL this session uses."""
    url = os.environ.get(ENV_VAR)
    if url:
        return f"leoflow tests: PostgreSQL from {ENV_VAR} ({redact(url)})"
    return f"leoflow tests: embedded PostgreSQL in a temporary directory ({ENV_VAR} unset)"


def start_server(tmp_dir: Path) -> TestServer:
    """The external server of ``LEOFLOW_TEST_DATABASE_URL``, or a fresh embedded one."""
    url = os.environ.get(ENV_VAR)
    if url:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return TestServer(url, f"{ENV_VAR} ({redact(url)})")
    data_dir = tmp_dir / "pgdata"
    return TestServer(
        start_embedded_postgres(data_dir), f"embedded PostgreSQL in {data_dir}", data_dir
    )


def _unique_name(kind: str) -> str:
    return f"leoflow_{kind}_{os.getpid()}_{uuid.uuid4().hex[:10]}"


class DatabaseFactory:
    """Creates and drops databases on the test server.

    Copying the template costs a few hundred milliseconds of server I/O, so copies are prepared
    in background threads while tests run (``spares`` ahead), and drops happen there too.
    """

    def __init__(self, server_url: str, *, spares: int = 2) -> None:
        self.server_url = server_url
        self.template: str | None = None
        self._spares: deque[Future[str]] = deque()
        self._spare_count = spares
        self._drops: list[Future[None]] = []
        self._executor = ThreadPoolExecutor(max_workers=max(1, spares), thread_name_prefix="pgdb")
        self._admin: psycopg.Connection[tuple[object, ...]] | None = None

    def _conn(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.server_url, autocommit=True)
        return self._admin

    def url(self, name: str) -> str:
        """The address of database ``name`` on the test server."""
        return with_database(self.server_url, name)

    def create_empty(self) -> str:
        """A new, empty (never migrated) database; returns its name."""
        name = _unique_name("test")
        self._conn().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return name

    def create_template(self) -> str:
        """Create the session's template database and migrate it (once per session)."""
        name = _unique_name("tmpl")
        self._conn().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        migrate(self.url(name))
        self.template = name
        return name

    def _copy_template(self) -> str:
        name = _unique_name("test")
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(str(self.template))
                )
            )
        return name

    def create_migrated(self) -> str:
        """A new database with the current schema, copied from the template; returns its name."""
        if self.template is None:
            self.create_template()
        while len(self._spares) <= self._spare_count:
            self._spares.append(self._executor.submit(self._copy_template))
        name = self._spares.popleft().result()
        self._spares.append(self._executor.submit(self._copy_template))
        return name

    def _drop_now(self, name: str) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    def drop(self, name: str) -> None:
        """Drop ``name`` in the background (connections to it are cut: PostgreSQL >= 13)."""
        self._drops.append(self._executor.submit(self._drop_now, name))

    def close(self) -> None:
        """Drop the spare copies and the template; close the admin connection."""
        while self._spares:
            spare = self._spares.popleft()
            with contextlib.suppress(Exception):
                self.drop(spare.result())
        for dropped in self._drops:
            dropped.result()
        self._executor.shutdown(wait=True)
        if self.template is not None:
            self._drop_now(self.template)
            self.template = None
        if self._admin is not None:
            self._admin.close()
