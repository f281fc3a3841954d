"""Database addresses: what users write, what psycopg and SQLAlchemy get."""

from __future__ import annotations

import pytest

from leoflow.store.dsn import (
    InvalidDatabaseURL,
    libpq_dsn,
    parse_dsn,
    redact,
    socket_url,
    sqlalchemy_url,
    with_database,
)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:p%40ss@db.example:5433/leo?sslmode=require",
        "postgres://u:p%40ss@db.example:5433/leo?sslmode=require",
        "postgresql+psycopg://u:p%40ss@db.example:5433/leo?sslmode=require",
        "postgresql+psycopg2://u:p%40ss@db.example:5433/leo?sslmode=require",
        "host=db.example port=5433 dbname=leo user=u password=p@ss sslmode=require",
    ],
)
def test_every_spelling_becomes_the_psycopg_dialect(dsn: str) -> None:
    url = sqlalchemy_url(dsn)
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "u",
        "p@ss",
        "db.example",
        5433,
        "leo",
    )
    assert url.query == {"sslmode": "require"}


def test_socket_directory_survives_conversion() -> None:
    dsn = socket_url("/tmp/some dir/pg", 5432, user="postgres", dbname="leoflow")
    params = parse_dsn(dsn)
    assert params["host"] == "/tmp/some dir/pg"
    assert sqlalchemy_url(dsn).host == "/tmp/some dir/pg"
    assert parse_dsn(with_database(dsn, "other"))["dbname"] == "other"


def test_driver_suffix_is_dropped_for_psycopg() -> None:
    assert libpq_dsn("postgresql+psycopg://h/db") == "postgresql://h/db"


def test_redact_hides_credentials() -> None:
    assert redact("postgresql://u:secret@h:5/db") == "h:5/db"
    assert redact("not a url at all ::") == "<unparseable database URL>"


def test_garbage_is_a_clear_error() -> None:
    with pytest.raises(InvalidDatabaseURL, match="postgresql://user:password@host"):
        parse_dsn("definitely not = a 'dsn")
    with pytest.raises(InvalidDatabaseURL, match="empty"):
        libpq_dsn("  ")
