"""``leoflow lite backup`` / ``restore`` with the wheel's real pg_dump and pg_restore.

The backup is taken from the test's (migrated) database; the restore goes into a fresh
embedded PostgreSQL, as on a machine being rebuilt, and must bring back rows, workspace and
secrets while moving what was there aside.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from leoflow.lite.backup import BackupError, create_backup, read_manifest, restore_backup
from leoflow.lite.embedded_db import start_embedded_postgres, stop_embedded_postgres
from leoflow.store.schema import migrate


@pytest.fixture
def lite_database(tmp_path: Path) -> Iterator[str]:
    """A migrated embedded PostgreSQL, as Lite runs it (backups go embedded → embedded)."""
    data_dir = tmp_path / "source-pgdata"
    dsn = start_embedded_postgres(data_dir)
    try:
        migrate(dsn)
        yield dsn
    finally:
        stop_embedded_postgres(data_dir)


def test_backup_then_restore_into_a_new_embedded_database(
    lite_database: str, tmp_path: Path
) -> None:
    database_url = lite_database
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO variables (tenant_id, key, value) "
            "SELECT id, 'kept', 'across a restore' FROM tenants WHERE name = 'default'"
        )
    home, workspace = tmp_path / "home", tmp_path / "ws"
    (workspace / "p" / "__pycache__").mkdir(parents=True)
    (workspace / "p" / "dag.py").write_text("# the DAG\n")
    (workspace / "p" / "__pycache__" / "dag.cpython-311.pyc").write_bytes(b"x")
    home.mkdir()
    (home / "jwt_secret").write_text("signing\n")
    (home / "secret_key").write_text("sealing\n")

    archive = tmp_path / "out" / "backup.tar.gz"
    summary = create_backup(database_url, home, workspace, archive)
    assert summary.config_files == ["jwt_secret", "secret_key"]
    assert oct(archive.stat().st_mode & 0o777) == "0o600"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "database.dump" in names and "workspace/p/dag.py" in names
    assert not any("__pycache__" in name for name in names)
    assert read_manifest(archive)["workspace"] == str(workspace)

    (workspace / "p" / "dag.py").write_text("# edited after the backup\n")
    (home / "secret_key").write_text("another\n")
    data_dir = home / "pgdata"
    said = restore_backup(archive, home, workspace, data_dir)
    assert any("previous workspace moved" in line for line in said)
    assert (workspace / "p" / "dag.py").read_text() == "# the DAG\n"
    assert (home / "secret_key").read_text() == "sealing\n"
    assert list(home.glob("secret_key.before-restore-*"))
    dsn = start_embedded_postgres(data_dir)
    try:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT value FROM variables WHERE key = 'kept'").fetchone()
        assert row == ("across a restore",)
    finally:
        stop_embedded_postgres(data_dir)


def test_anything_else_is_refused_before_touching_anything(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tarball")
    with pytest.raises(BackupError, match="not a Leoflow Lite backup"):
        read_manifest(bogus)
    with pytest.raises(BackupError):
        restore_backup(bogus, tmp_path / "home", tmp_path / "ws", tmp_path / "pgdata")
    assert not (tmp_path / "pgdata").exists()


def test_a_failed_restore_puts_the_previous_database_back(
    lite_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, workspace = tmp_path / "home", tmp_path / "ws"
    home.mkdir()
    archive = tmp_path / "backup.tar.gz"
    create_backup(lite_database, home, workspace, archive)
    data_dir = home / "pgdata"
    data_dir.mkdir()
    (data_dir / "marker").write_text("the database before")

    def broken(*_: object) -> None:
        raise BackupError("pg_restore of the metadata database failed (exit code 1): boom")

    monkeypatch.setattr("leoflow.lite.backup._run_tool", broken)
    with pytest.raises(BackupError, match="boom"):
        restore_backup(archive, home, workspace, data_dir)
    assert (data_dir / "marker").read_text() == "the database before"
    assert not list(home.glob("pgdata.before-restore-*"))
