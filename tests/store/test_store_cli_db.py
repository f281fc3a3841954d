"""``leoflow db migrate`` / ``leoflow db check`` through Typer's test runner."""

from __future__ import annotations

import psycopg
from typer.testing import CliRunner

from leoflow.cli.db import db_app
from leoflow.store.schema import VERSION_TABLE

runner = CliRunner()


def _env(url: str | None) -> dict[str, str | None]:
    return {"LEOFLOW_DATABASE_URL": url, "LEOFLOW_CONFIG_FILE": None}


def test_unset_database_url_is_a_clear_error() -> None:
    result = runner.invoke(db_app, ["check"], env=_env(None))
    assert result.exit_code == 2
    assert "LEOFLOW_DATABASE_URL is not set" in result.output


def test_migrate_then_check(empty_database_url: str) -> None:
    behind = runner.invoke(db_app, ["check"], env=_env(empty_database_url))
    assert behind.exit_code == 1
    assert "Run `leoflow db migrate`" in behind.output

    migrated = runner.invoke(db_app, ["migrate"], env=_env(empty_database_url))
    assert migrated.exit_code == 0, migrated.output
    assert "Migrated" in migrated.output

    again = runner.invoke(db_app, ["migrate"], env=_env(empty_database_url))
    assert again.exit_code == 0
    assert "already up to date" in again.output

    ok = runner.invoke(db_app, ["check"], env=_env(empty_database_url))
    assert ok.exit_code == 0
    assert "up to date" in ok.output


def test_check_and_migrate_refuse_a_newer_database(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff_from_the_future'")

    checked = runner.invoke(db_app, ["check"], env=_env(database_url))
    assert checked.exit_code == 1
    assert "this database was migrated by a newer Leoflow; upgrade leoflow" in checked.output

    migrated = runner.invoke(db_app, ["migrate"], env=_env(database_url))
    assert migrated.exit_code == 1
    assert "upgrade leoflow" in migrated.output


def test_unreachable_database_does_not_print_the_password() -> None:
    url = "postgresql://leoflow:hunter2@127.0.0.1:1/leoflow?connect_timeout=2"
    result = runner.invoke(db_app, ["check"], env=_env(url))
    assert result.exit_code == 1
    assert "cannot connect" in result.output
    assert "hunter2" not in result.output


def test_server_without_a_pod_agent_address_refuses_to_start(database_url: str) -> None:
    """Pro runs tasks as pods, which must be told where the agent service is: a missing
    address is a one-line error before anything starts, not a traceback at start-up."""
    from leoflow.cli.main import app

    env = {
        **_env(database_url),
        "LEOFLOW_EDITION": "pro",
        "LEOFLOW_EXECUTOR": "kubernetes",
        "LEOFLOW_KUBERNETES__AGENT_ADDRESS": None,
        "LEOFLOW_AGENT_ADVERTISE_ADDRESS": None,
    }
    result = runner.invoke(app, ["server", "--port", "1"], env=env)
    assert result.exit_code == 2, result.output
    assert "LEOFLOW_KUBERNETES__AGENT_ADDRESS" in result.output
    assert "Traceback" not in result.output
