"""Guards on the schema itself, read from the PostgreSQL catalog.

These tests protect future migrations too: a new foreign key without an index, or a state
CHECK that drifts from ``leoflow.states``, fails here.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from harness.factories import make_run
from leoflow.states import RunState, TaskState

_FOREIGN_KEYS = """
    SELECT conrelid::regclass::text, conname, conrelid, conkey::int2[]
    FROM pg_constraint
    WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""

_FULL_INDEXES = """
    SELECT indrelid, string_to_array(indkey::text, ' ')::int2[]
    FROM pg_index
    WHERE indpred IS NULL
      AND indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
"""


def _state_checks(url: str) -> dict[tuple[str, str], set[str]]:
    """Allowed values of every CHECK constraint on a ``state`` column, by (table, column)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            SELECT c.conrelid::regclass::text, a.attname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
            WHERE c.contype = 'c' AND cardinality(c.conkey) = 1 AND a.attname = 'state'
              AND c.connamespace = 'public'::regnamespace
            """
        ).fetchall()
    return {(table, column): set(re.findall(r"'([a-z_]+)'", text)) for table, column, text in rows}


def test_every_foreign_key_has_an_index_leading_with_its_columns(database_url: str) -> None:
    """An index serves a foreign key when its leading columns are exactly the key's columns."""
    with psycopg.connect(database_url) as conn:
        foreign_keys = conn.execute(_FOREIGN_KEYS).fetchall()
        indexes = conn.execute(_FULL_INDEXES).fetchall()
    assert len(foreign_keys) >= 20, "the catalog query found too few foreign keys"
    missing = [
        (table, name)
        for table, name, relid, columns in foreign_keys
        if not any(
            index_relid == relid and set(index_columns[: len(columns)]) == set(columns)
            for index_relid, index_columns in indexes
        )
    ]
    assert missing == [], f"foreign keys without an index leading with their columns: {missing}"


def test_state_checks_match_the_state_machine(database_url: str) -> None:
    checks = _state_checks(database_url)
    task_values = {s.value for s in TaskState}
    run_values = {s.value for s in RunState}
    assert checks[("task_instances", "state")] == task_values
    assert checks[("task_instance_history", "state")] == task_values
    assert checks[("dag_runs", "state")] == run_values
    assert checks[("staging_volumes", "state")] == {"active", "deleted"}


@pytest.mark.parametrize("table", ["task_instances", "dag_runs"])
async def test_check_constraint_refuses_an_unknown_state(database_url: str, table: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        setup = await make_run(conn)
        row_id = setup.task_instances["extract"].id if table == "task_instances" else setup.run.id
        with pytest.raises(psycopg.errors.CheckViolation):
            await conn.execute(f"UPDATE {table} SET state = 'exploded' WHERE id = %s", (row_id,))


def test_default_tenant_is_seeded(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT name FROM tenants").fetchall()
    assert rows == [("default",)]


def test_hot_filters_have_partial_indexes(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
        ).fetchall()
    defs = dict(rows)
    assert "WHERE (state = 'up_for_retry'" in defs["task_instances_retry_due_idx"]
    assert "WHERE (state = 'running'" in defs["task_instances_heartbeat_idx"]
    assert "'none'" in defs["task_instances_unfinished_idx"]
    assert "'success'" not in defs["task_instances_unfinished_idx"]
    assert "dag_uuid, state" in defs["dag_runs_dag_state_idx"]
    assert "WHERE (state = ANY" in defs["dag_runs_active_idx"]
    assert "expires_at" in defs["xcom_expires_idx"]
    assert "created_at" in defs["audit_log_created_idx"]


def test_updated_at_is_maintained_by_the_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT updated_at FROM tenants").fetchone()
        conn.commit()
        after = conn.execute(
            "UPDATE tenants SET description = 'changed' RETURNING updated_at"
        ).fetchone()
    assert before is not None and after is not None
    assert after[0] > before[0]


async def test_xcom_size_is_computed_from_the_value(database_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        run = (await make_run(conn)).run
        cur = await conn.execute(
            "INSERT INTO xcom (run_uuid, task_id, value) VALUES (%s, 'extract', %s) "
            "RETURNING size, key, map_index, content_type",
            (run.id, b"12345"),
        )
        assert await cur.fetchone() == (5, "return_value", -1, "application/json")
