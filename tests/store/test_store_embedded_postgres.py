"""The embedded PostgreSQL of Lite: start from nothing, migrate, query, stop, reuse."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.store.schema import SchemaState, check, migrate

pytestmark = pytest.mark.slow


def test_embedded_server_starts_migrates_and_serves(tmp_path: Path) -> None:
    data_dir = tmp_path / "lite" / "pgdata"
    dsn = start_embedded_postgres(data_dir, database="leoflow")
    try:
        assert (data_dir / "PG_VERSION").exists()
        migrate(dsn)
        assert check(dsn).state is SchemaState.UP_TO_DATE
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT name FROM tenants").fetchone()
            assert row == ("default",)
            assert conn.execute("SELECT current_database()").fetchone() == ("leoflow",)

        assert start_embedded_postgres(data_dir, database="leoflow") == dsn, "reused"
    finally:
        assert stop_embedded_postgres(data_dir)

    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2).close()
    assert not stop_embedded_postgres(data_dir)

    again = start_embedded_postgres(data_dir, database="leoflow")
    try:
        assert check(again).state is SchemaState.UP_TO_DATE, "data survives a restart"
    finally:
        stop_embedded_postgres(data_dir)
