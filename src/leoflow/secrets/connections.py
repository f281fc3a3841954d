"""Sealing and opening the secret fields of a connection row, and re-keying them all.

Each ciphertext is bound (as AES-GCM associated data) to its tenant, its row id and its field
name, so the database cannot be edited to swap secrets between rows or between ``password``
and ``extra`` without decryption failing.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from leoflow.secrets.cipher import SecretCipher
from leoflow.store import connections as store
from leoflow.store.pool import Connection as DbConnection

PASSWORD = "password"
EXTRA = "extra"


def associated_data(tenant_id: UUID, row_id: UUID, field: str) -> bytes:
    """The identity a sealed value is bound to."""
    return f"leoflow/connection/{tenant_id}/{row_id}/{field}".encode()


def seal(
    cipher: SecretCipher, tenant_id: UUID, row_id: UUID, field: str, value: str | None
) -> bytes | None:
    """The stored form of ``value`` (``None`` stays ``None``)."""
    if value is None:
        return None
    return cipher.encrypt(value, associated_data=associated_data(tenant_id, row_id, field))


def unseal(
    cipher: SecretCipher, tenant_id: UUID, row_id: UUID, field: str, blob: bytes | None
) -> str | None:
    """The plaintext of a stored value (``None`` stays ``None``)."""
    if blob is None:
        return None
    return cipher.decrypt(blob, associated_data=associated_data(tenant_id, row_id, field))


@dataclass(frozen=True)
class OpenedSecrets:
    """The plaintext secret fields of one connection."""

    password: str | None
    extra: str | None


def open_connection(cipher: SecretCipher, row: store.Connection) -> OpenedSecrets:
    """Decrypt both secret fields of ``row``."""
    return OpenedSecrets(
        password=unseal(cipher, row.tenant_id, row.id, PASSWORD, row.password_encrypted),
        extra=unseal(cipher, row.tenant_id, row.id, EXTRA, row.extra_encrypted),
    )


@dataclass(frozen=True)
class RotationResult:
    """What a key rotation did."""

    connections: int
    rotated: int


async def rotate_connection_secrets(conn: DbConnection, cipher: SecretCipher) -> RotationResult:
    """Re-seal every connection secret with the cipher's primary key, in one transaction.

    ``cipher`` must also hold the old key(s) to open the current values. Rows already sealed
    with the primary key are sealed again too (fresh nonces), so the command can be re-run.
    Any value that cannot be opened aborts the whole rotation and nothing is changed.
    """
    async with conn.transaction():
        rows = await store.all_connections_for_update(conn)
        rotated = 0
        for row in rows:
            opened = open_connection(cipher, row)
            if row.password_encrypted is None and row.extra_encrypted is None:
                continue
            await store.update_connection(
                conn,
                row.id,
                {
                    "password_encrypted": seal(
                        cipher, row.tenant_id, row.id, PASSWORD, opened.password
                    ),
                    "extra_encrypted": seal(cipher, row.tenant_id, row.id, EXTRA, opened.extra),
                },
            )
            rotated += 1
    return RotationResult(connections=len(rows), rotated=rotated)
