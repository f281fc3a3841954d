"""Variables and connections as a task receives them (ADR 0015): decrypted, in Airflow's forms.

Connections travel with their fields and as an Airflow connection URI (extra always as
``__extra__``, which round-trips nested JSON), ready for ``AIRFLOW_CONN_<ID>``. Nothing here
logs a value; callers log counts and ids only.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode
from uuid import UUID

from leoflow.secrets import SecretCipher
from leoflow.secrets.connections import open_connection
from leoflow.secrets.variables import VariableSecretsUnavailable, read_value
from leoflow.store import connections as store
from leoflow.store import variables as variable_store
from leoflow.store.pool import Database
from leoflow.store.task_context import list_all_connections, list_all_variables


@dataclass(frozen=True)
class DeliveredConnection:
    """A connection with its secrets opened."""

    conn_id: str
    conn_type: str
    host: str | None
    schema: str | None
    login: str | None
    password: str | None
    port: int | None
    extra: str | None
    description: str | None

    @property
    def uri(self) -> str:
        return connection_uri(
            self.conn_type,
            host=self.host,
            login=self.login,
            password=self.password,
            port=self.port,
            schema=self.schema,
            extra=self.extra,
        )


def connection_uri(
    conn_type: str | None,
    *,
    host: str | None,
    login: str | None,
    password: str | None,
    port: int | None,
    schema: str | None,
    extra: str | None,
) -> str:
    """Airflow's ``Connection.get_uri()``, with ``extra`` always as ``__extra__``."""
    uri = f"{conn_type.lower().replace('_', '-')}://" if conn_type else "//"
    host_to_use = host
    if host and "://" in host:
        protocol, rest = host.split("://", 1)
        if protocol != conn_type:
            uri += f"{protocol}://"
            host_to_use = rest
    authority = ""
    if login is not None:
        authority += quote(login, safe="")
    if password is not None:
        authority += ":" + quote(password, safe="")
    if authority:
        uri += authority + "@"
    host_block = quote(host_to_use, safe="") if host_to_use else ""
    if port:
        host_block += f"@:{port}" if not host_block and not authority else f":{port}"
    if schema:
        host_block += f"/{quote(schema, safe='')}"
    uri += host_block
    if extra:
        uri += ("?" if schema else "/?") + urlencode({"__extra__": extra})
    return uri


class CipherUnavailableError(RuntimeError):
    """A connection holds sealed secrets but no usable key is configured; says which setting."""


async def variables_for_task(
    db: Database, tenant_id: UUID, keys: list[str], cipher: SecretCipher | None = None
) -> dict[str, str]:
    """The tenant's variables (all of them when ``keys`` is empty), by key, in plaintext.

    Values are sealed at rest whenever a key is configured; a task must get what was set,
    never the sealed form. ``CipherUnavailableError`` when a sealed value cannot be opened.
    """
    if keys:
        found = await variable_store.get_variables(db, tenant_id, keys)
        stored = [(key, row.value, row.is_encrypted) for key, row in found.items()]
    else:
        stored = await list_all_variables(db, tenant_id)
    opened: dict[str, str] = {}
    for key, value, is_encrypted in stored:
        if value is None:
            continue
        try:
            plain = read_value(cipher, tenant_id, key, value, is_encrypted)
        except VariableSecretsUnavailable as exc:
            raise CipherUnavailableError(
                f"variable '{key}' is encrypted but LEOFLOW_SECRET_KEY is not set (or unusable) "
                "on the control plane; configure the key it was sealed with"
            ) from exc
        if plain is not None:
            opened[key] = plain
    return opened


async def connections_for_task(
    db: Database, tenant_id: UUID, conn_ids: list[str], cipher: SecretCipher | None
) -> list[DeliveredConnection]:
    """The tenant's connections (all when ``conn_ids`` is empty) with secrets opened."""
    if conn_ids:
        rows = list((await store.get_connections(db, tenant_id, conn_ids)).values())
    else:
        rows = await list_all_connections(db, tenant_id)
    delivered: list[DeliveredConnection] = []
    for row in sorted(rows, key=lambda r: r.conn_id):
        password = extra = None
        if row.password_encrypted is not None or row.extra_encrypted is not None:
            if cipher is None:
                raise CipherUnavailableError(
                    f"connection '{row.conn_id}' has encrypted fields but LEOFLOW_SECRET_KEY is "
                    "not set (or unusable) on the control plane; configure the key it was "
                    "sealed with"
                )
            opened = open_connection(cipher, row)
            password, extra = opened.password, opened.extra
        delivered.append(
            DeliveredConnection(
                conn_id=row.conn_id,
                conn_type=row.conn_type,
                host=row.host,
                schema=row.schema,
                login=row.login,
                password=password,
                port=row.port,
                extra=extra,
                description=row.description,
            )
        )
    return delivered
