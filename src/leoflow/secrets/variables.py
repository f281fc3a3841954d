"""Variables at rest: sealed with the connection cipher whenever a key is configured.

As in Airflow (which encrypts every variable when a Fernet key is set and reports
``is_encrypted``), every value is sealed, not only secret-looking ones: which variables hold
secrets is not reliably visible from their key. Without a key, ordinary variables are kept in
clear (``is_encrypted`` false), but a variable whose key looks secret (``db_password``…) is
refused rather than stored in clear.

The sealed value is kept as base64 text in the ``value`` column, bound (associated data) to its
tenant and key, so it cannot be moved to another variable.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from uuid import UUID

from leoflow.secrets.cipher import DecryptionError, SecretCipher
from leoflow.secrets.masking import should_hide_value_for_key
from leoflow.store import variables as store
from leoflow.store.pool import Connection as DbConnection


class VariableSecretsUnavailable(RuntimeError):
    """A variable cannot be stored or read for lack of a usable key; the message says why."""


def associated_data(tenant_id: UUID, key: str) -> bytes:
    """The identity a sealed variable value is bound to."""
    return f"leoflow/variable/{tenant_id}/{key}".encode()


@dataclass(frozen=True)
class StoredValue:
    """What goes into the ``value`` and ``is_encrypted`` columns."""

    value: str | None
    is_encrypted: bool


def store_value(
    cipher: SecretCipher | None,
    tenant_id: UUID,
    key: str,
    value: str | None,
    *,
    missing_key_reason: str | None = None,
) -> StoredValue:
    """The stored form of a variable value (sealed when a key is configured)."""
    if value is None:
        return StoredValue(None, False)
    if cipher is not None:
        sealed = cipher.encrypt(value, associated_data=associated_data(tenant_id, key))
        return StoredValue(base64.b64encode(sealed).decode("ascii"), True)
    if should_hide_value_for_key(key):
        raise VariableSecretsUnavailable(
            missing_key_reason or "LEOFLOW_SECRET_KEY is not set: secret variables cannot be stored"
        )
    return StoredValue(value, False)


def read_value(
    cipher: SecretCipher | None,
    tenant_id: UUID,
    key: str,
    value: str | None,
    is_encrypted: bool,
    *,
    missing_key_reason: str | None = None,
) -> str | None:
    """The plaintext of a stored variable value."""
    if not is_encrypted or value is None:
        return value
    if cipher is None:
        raise VariableSecretsUnavailable(
            missing_key_reason
            or "LEOFLOW_SECRET_KEY is not set: encrypted variables are unreadable"
        )
    try:
        blob = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecryptionError("stored variable is not valid sealed data") from exc
    return cipher.decrypt(blob, associated_data=associated_data(tenant_id, key))


async def rotate_variable_secrets(conn: DbConnection, cipher: SecretCipher) -> tuple[int, int]:
    """Seal every variable with the cipher's primary key (in one transaction); values kept in
    clear so far (stored before a key existed) are sealed too. Returns (variables, sealed)."""
    async with conn.transaction():
        rows = await store.all_variables_for_update(conn)
        sealed = 0
        for row in rows:
            if row.value is None:
                continue
            plain = read_value(cipher, row.tenant_id, row.key, row.value, row.is_encrypted)
            stored = store_value(cipher, row.tenant_id, row.key, plain)
            await store.update_variable(
                conn,
                row.tenant_id,
                row.key,
                {"value": stored.value, "is_encrypted": stored.is_encrypted},
            )
            sealed += 1
    return len(rows), sealed
