"""Migrations: from empty to head, idempotent re-runs, and the three check states."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import psycopg
import pytest

from leoflow.store.schema import (
    VERSION_TABLE,
    DatabaseAheadError,
    DatabaseUnavailableError,
    SchemaState,
    check,
    current_revision,
    downgrade,
    head_revision,
    migrate,
)


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_migrate_empty_database_then_again_is_a_no_op(empty_database_url: str) -> None:
    assert current_revision(empty_database_url) is None
    every_revision = check(empty_database_url).pending

    first = migrate(empty_database_url)
    assert first.previous is None
    assert first.current == head_revision()
    assert first.applied == every_revision
    assert first.applied[0] == "0001"
    tables = _tables(empty_database_url)
    assert {"dags", "dag_versions", "dag_runs", "task_instances", "xcom", "triggers"} <= tables

    second = migrate(empty_database_url)
    assert second.previous == second.current == head_revision()
    assert second.applied == ()
    assert _tables(empty_database_url) == tables


def test_migrated_database_is_up_to_date(database_url: str) -> None:
    status = check(database_url)
    assert status.state is SchemaState.UP_TO_DATE
    assert status.ok
    assert status.current == status.head == head_revision()
    assert "up to date" in status.message


def test_empty_database_is_behind_with_the_fix_named(empty_database_url: str) -> None:
    status = check(empty_database_url)
    assert status.state is SchemaState.BEHIND
    assert not status.ok
    assert status.current is None
    assert status.pending[0] == "0001"
    assert status.pending[-1] == head_revision()
    count = len(status.pending)
    assert f"{count} pending revision{'s' if count > 1 else ''}" in status.message
    assert "Run `leoflow db migrate`" in status.message


def test_downgrade_to_base_is_behind_and_migrates_back(database_url: str) -> None:
    downgrade(database_url, "base")
    assert _tables(database_url) == {VERSION_TABLE}
    status = check(database_url)
    assert status.state is SchemaState.BEHIND
    assert status.pending[-1] == head_revision()

    migrate(database_url)
    assert check(database_url).state is SchemaState.UP_TO_DATE


def test_database_at_unknown_revision_is_ahead(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff_from_the_future'")

    status = check(database_url)
    assert status.state is SchemaState.AHEAD
    assert status.current == "ffff_from_the_future"
    assert "migrated by a newer Leoflow; upgrade leoflow" in status.message

    with pytest.raises(DatabaseAheadError, match="upgrade leoflow"):
        migrate(database_url)


def test_unreachable_database_is_a_clear_error_without_password() -> None:
    url = "postgresql://leoflow:hunter2@127.0.0.1:1/leoflow?connect_timeout=2"
    with pytest.raises(DatabaseUnavailableError) as info:
        check(url)
    assert "127.0.0.1:1/leoflow" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_concurrent_migrations_apply_once(empty_database_url: str) -> None:
    """Replicas starting together: the advisory lock makes the later ones no-ops.

    Separate processes, like real replicas (Alembic's context is process-global).
    """
    revisions = len(check(empty_database_url).pending)
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(migrate, [empty_database_url] * 3))
    assert sorted(len(r.applied) for r in results) == [0, 0, revisions]
    assert check(empty_database_url).state is SchemaState.UP_TO_DATE
