"""Database address handling: one user-facing DSN, two driver spellings.

Users give a plain libpq address (``postgresql://…``, ``postgres://…`` or ``host=… dbname=…``),
the form every PostgreSQL tool understands. psycopg takes that form as is; SQLAlchemy (used only
to run Alembic migrations) needs the ``postgresql+psycopg`` dialect. Parsing goes through libpq's
own parser so that socket directories, escaped passwords and extra parameters (``sslmode`` …)
survive the conversion unchanged.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from sqlalchemy.engine import URL

_DRIVER_SUFFIX = re.compile(r"^(postgres(?:ql)?)\+[A-Za-z0-9_]+://")
_CORE_KEYS = ("user", "password", "host", "port", "dbname")


class InvalidDatabaseURL(ValueError):
    """The database address cannot be parsed (the message never repeats the password)."""


def libpq_dsn(dsn: str) -> str:
    """The address in a form psycopg/libpq accept: a SQLAlchemy ``+driver`` suffix is dropped."""
    dsn = dsn.strip()
    if not dsn:
        raise InvalidDatabaseURL("the database URL is empty")
    return _DRIVER_SUFFIX.sub(r"\1://", dsn)


def parse_dsn(dsn: str) -> dict[str, str]:
    """Parse an address into libpq keywords (``host``, ``port``, ``dbname``, ``user`` …)."""
    try:
        params = conninfo_to_dict(libpq_dsn(dsn))
    except psycopg.ProgrammingError as exc:
        raise InvalidDatabaseURL(
            "cannot parse the database URL; expected postgresql://user:password@host:5432/dbname"
        ) from exc
    return {key: str(value) for key, value in params.items() if value is not None}


def sqlalchemy_url(dsn: str) -> URL:
    """The address as a SQLAlchemy URL on the psycopg 3 dialect (``postgresql+psycopg``)."""
    params = parse_dsn(dsn)
    port = params.get("port")
    query = {key: value for key, value in params.items() if key not in _CORE_KEYS}
    return URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password"),
        host=params.get("host"),
        port=int(port) if port and port.isdigit() else None,
        database=params.get("dbname"),
        query=query,
    )


def with_database(dsn: str, dbname: str) -> str:
    """The same server address pointing at another database (used by tests and tooling)."""
    params = parse_dsn(dsn)
    params["dbname"] = dbname
    return make_conninfo("", **params)


def redact(dsn: str) -> str:
    """A printable form of the address: ``host:port/dbname`` with no user or password."""
    try:
        params = parse_dsn(dsn)
    except InvalidDatabaseURL:
        return "<unparseable database URL>"
    host = params.get("host", "localhost")
    port = params.get("port", "5432")
    return f"{host}:{port}/{params.get('dbname', params.get('user', ''))}"


def socket_url(socket_dir: str, port: int, *, user: str, dbname: str) -> str:
    """A ``postgresql://`` URL for a server reached through a unix socket directory."""
    return (
        f"postgresql://{quote(user, safe='')}@/{quote(dbname, safe='')}"
        f"?host={quote(socket_dir, safe='/')}&port={port}"
    )
