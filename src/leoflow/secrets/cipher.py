"""AES-256-GCM for connection secrets (``password`` and ``extra``).

Every value is sealed on its own with a fresh random 96-bit nonce, so equal plaintexts never
give equal ciphertexts, and with *associated data* naming the row and the field it belongs to:
a ciphertext copied into another connection, another tenant or another column fails to open
instead of silently decrypting there.

Stored layout (``bytea``)::

    b"\\x01" | key id (4 bytes) | nonce (12 bytes) | ciphertext + 16-byte GCM tag

The version byte lets the layout change later; the key id (the first 4 bytes of the key's
SHA-256) says which key sealed the value, so a key rotation can run while old and new keys are
both configured, and a wrong key is reported as such rather than as corrupted data.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_KEY_SETTING = "LEOFLOW_SECRET_KEY"
FORMAT_VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
_HEADER_BYTES = 1 + KEY_ID_BYTES + NONCE_BYTES
_TAG_BYTES = 16


class SecretKeyError(ValueError):
    """The configured key is missing or malformed; the message names the setting."""


class DecryptionError(ValueError):
    """A stored value cannot be opened: wrong key, tampered bytes or moved to another row."""


def parse_secret_key(value: str, *, setting: str = SECRET_KEY_SETTING) -> bytes:
    """Decode a 32-byte key given as hex (64 chars) or base64 (standard or URL-safe)."""
    text = value.strip()
    if not text:
        raise SecretKeyError(f"{setting} is empty; set it to 32 random bytes as base64 or hex")
    candidates: list[bytes] = []
    if len(text) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(text))
    padded = text + "=" * (-len(text) % 4)
    for alphabet in (b"+/", b"-_"):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(base64.b64decode(padded, altchars=alphabet, validate=True))
    for key in candidates:
        if len(key) == KEY_BYTES:
            return key
    raise SecretKeyError(
        f"{setting} must be 32 bytes encoded as base64 (44 chars) or hex (64 chars); "
        "generate one with `python -c 'import os,base64;print(base64.b64encode(os.urandom(32))"
        ".decode())'`"
    )


def parse_key_list(
    value: str | None, *, setting: str = "LEOFLOW_SECRET_KEY_PREVIOUS"
) -> list[bytes]:
    """Keys given comma-separated (the previous keys of a rotation); empty text → none."""
    return [
        parse_secret_key(part, setting=setting) for part in (value or "").split(",") if part.strip()
    ]


def generate_secret_key() -> str:
    """A new random key in the base64 form :func:`parse_secret_key` accepts."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> bytes:
    """The short, non-secret fingerprint stored in front of every ciphertext."""
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


class SecretCipher:
    """Seals with the primary key; opens with the primary or any of the previous keys."""

    def __init__(self, primary: bytes, previous: Iterable[bytes] = ()) -> None:
        if len(primary) != KEY_BYTES:
            raise SecretKeyError(f"{SECRET_KEY_SETTING} must decode to exactly {KEY_BYTES} bytes")
        self._primary_id = key_id(primary)
        self._primary = AESGCM(primary)
        self._keys: dict[bytes, AESGCM] = {self._primary_id: self._primary}
        for key in previous:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(f"a previous secret key is not {KEY_BYTES} bytes long")
            self._keys.setdefault(key_id(key), AESGCM(key))

    @classmethod
    def from_settings_values(cls, primary: str, previous: str | None = None) -> SecretCipher:
        """Build from the text of ``LEOFLOW_SECRET_KEY`` and ``LEOFLOW_SECRET_KEY_PREVIOUS``."""
        return cls(parse_secret_key(primary), parse_key_list(previous))

    @property
    def primary_key_id(self) -> str:
        """Hex fingerprint of the key new values are sealed with."""
        return self._primary_id.hex()

    def encrypt(self, plaintext: str, *, associated_data: bytes) -> bytes:
        """Seal ``plaintext`` for the row/field named by ``associated_data``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._primary.encrypt(nonce, plaintext.encode("utf-8"), associated_data)
        return bytes([FORMAT_VERSION]) + self._primary_id + nonce + sealed

    def decrypt(self, blob: bytes, *, associated_data: bytes) -> str:
        """Open a value sealed by :meth:`encrypt` with the same ``associated_data``."""
        data = bytes(blob)
        if len(data) < _HEADER_BYTES + _TAG_BYTES or data[0] != FORMAT_VERSION:
            raise DecryptionError("stored secret has an unknown format")
        kid = data[1 : 1 + KEY_ID_BYTES]
        aead = self._keys.get(kid)
        if aead is None:
            raise DecryptionError(
                f"stored secret was sealed with key {kid.hex()}, which is not configured "
                f"({SECRET_KEY_SETTING} is {self._primary_id.hex()}; add the old key to "
                "LEOFLOW_SECRET_KEY_PREVIOUS to read it)"
            )
        nonce = data[1 + KEY_ID_BYTES : _HEADER_BYTES]
        try:
            plain = aead.decrypt(nonce, data[_HEADER_BYTES:], associated_data)
        except InvalidTag as exc:
            raise DecryptionError(
                "stored secret failed authentication (tampered, or moved to another row)"
            ) from exc
        return plain.decode("utf-8")

    def needs_rotation(self, blob: bytes) -> bool:
        """Whether ``blob`` was sealed with a key other than the primary one."""
        return bytes(blob)[1 : 1 + KEY_ID_BYTES] != self._primary_id
