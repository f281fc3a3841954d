"""Airflow connection URIs (``AIRFLOW_CONN_<ID>``): writing them and reading them back.

The agent writes each delivered connection as a URI in the user process's environment and
the shim's ``Connection`` reads it, so both must agree with Airflow's own format: the scheme is
the connection type (``_`` written ``-``), login and password are percent-encoded, a host
carrying its own protocol (``https://host``) keeps it, and ``extra`` travels verbatim as the
``__extra__`` query parameter, which keeps its JSON types intact (Airflow reads it back as the
extra text). Standard library only: the agent imports this module.
"""

from __future__ import annotations

import json
from typing import Any, TypedDict
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

EXTRA_KEY = "__extra__"
"""Query parameter that carries the connection's ``extra`` JSON text (Airflow's name)."""


class ConnectionFields(TypedDict):
    """The fields of an Airflow connection as a URI holds them."""

    conn_type: str | None
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None
    extra: str | None


def connection_uri(
    *,
    conn_type: str | None,
    host: str | None = None,
    schema: str | None = None,
    login: str | None = None,
    password: str | None = None,
    port: int | None = None,
    extra: str | None = None,
) -> str:
    """The Airflow URI of a connection (``Connection.get_uri()`` with extra as ``__extra__``)."""
    uri = f"{conn_type.lower().replace('_', '-')}://" if conn_type else "//"
    protocol, bare_host = host.split("://", 1) if host and "://" in host else (None, host)
    if protocol:
        uri += f"{protocol}://"
    authority = ""
    if login is not None:
        authority += quote(login, safe="")
    if password is not None:
        authority += ":" + quote(password, safe="")
    if authority:
        uri += authority + "@"
    host_block = quote(bare_host, safe="") if bare_host else ""
    if port:
        host_block += f"@:{port}" if not host_block and not authority else f":{port}"
    if schema:
        host_block += f"/{quote(schema, safe='')}"
    uri += host_block
    if extra:
        uri += ("?" if schema else "/?") + urlencode({EXTRA_KEY: extra})
    return uri


def _normalize_conn_type(conn_type: str) -> str:
    if conn_type == "postgresql":
        return "postgres"
    return conn_type.replace("-", "_")


def _hostname(netloc: str, hostname: str | None) -> str:
    name = unquote(hostname or "")
    if "/" in name:
        # An encoded "/" in the host (a socket path) confuses urlsplit; take it from netloc.
        name = netloc.rsplit("@", 1)[-1].split(":", 1)[0]
        name = unquote(name)
    return name


def parse_connection_uri(uri: str) -> ConnectionFields:
    """The fields of an Airflow connection URI; ``ValueError`` naming the problem if invalid."""
    schemes = uri.count("://")
    if schemes > 2:
        raise ValueError("invalid connection URI: more than two '://' separators")
    with_protocol = schemes == 2
    scheme = urlsplit(uri).scheme
    rest = uri.replace(f"{scheme}://", "" if with_protocol else "//", 1)
    if with_protocol:
        head = rest.split("://", 1)[0]
        if "@" in head or ":" in head:
            raise ValueError("invalid connection URI: credentials before the host's protocol")
    parts = urlsplit(rest)
    host: str | None = _hostname(parts.netloc, parts.hostname)
    if host and with_protocol:
        host = f"{parts.scheme}://{host}"
    path = parts.path[1:]
    extra: str | None = None
    if parts.query:
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        extra = query[EXTRA_KEY] if EXTRA_KEY in query else json.dumps(query)
    return {
        "conn_type": _normalize_conn_type(scheme) if scheme else None,
        "host": host or None,
        "schema": unquote(path) if path else None,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "port": parts.port,
        "extra": extra,
    }


def parse_connection_json(text: str) -> ConnectionFields:
    """The fields of a connection given as JSON (Airflow also accepts that form in env vars)."""
    data: Any = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("a connection in JSON form must be an object")
    extra = data.get("extra")
    if extra is not None and not isinstance(extra, str):
        extra = json.dumps(extra)
    port: Any = data.get("port")
    return {
        "conn_type": data.get("conn_type"),
        "host": data.get("host"),
        "schema": data.get("schema"),
        "login": data.get("login"),
        "password": data.get("password"),
        "port": int(port) if port not in (None, "") else None,
        "extra": extra,
    }
