"""AES-256-GCM sealing of connection secrets, key parsing, and masking of secret-looking keys."""

from __future__ import annotations

import base64
import json
import os
import uuid

import pytest

from leoflow.secrets.cipher import (
    DecryptionError,
    SecretCipher,
    SecretKeyError,
    generate_secret_key,
    parse_secret_key,
)
from leoflow.secrets.connections import associated_data, seal, unseal
from leoflow.secrets.masking import (
    merge_masked,
    redact,
    redact_json_text,
    should_hide_value_for_key,
)

AD = b"leoflow/connection/t/r/password"


def _cipher(key: bytes | None = None) -> SecretCipher:
    return SecretCipher(key or os.urandom(32))


def test_round_trip() -> None:
    cipher = _cipher()
    blob = cipher.encrypt("p@ss wörd", associated_data=AD)
    assert b"p@ss" not in blob
    assert cipher.decrypt(blob, associated_data=AD) == "p@ss wörd"


def test_fresh_nonce_every_time() -> None:
    cipher = _cipher()
    blobs = [cipher.encrypt("same", associated_data=AD) for _ in range(200)]
    nonces = {blob[5:17] for blob in blobs}
    assert len(nonces) == 200
    assert len(set(blobs)) == 200


def test_layout_has_version_and_key_id() -> None:
    key = os.urandom(32)
    cipher = _cipher(key)
    blob = cipher.encrypt("x", associated_data=AD)
    assert blob[0] == 1
    assert blob[1:5].hex() == cipher.primary_key_id
    assert len(blob) == 1 + 4 + 12 + 1 + 16


def test_wrong_key_fails_and_says_which_key() -> None:
    blob = _cipher().encrypt("secret", associated_data=AD)
    with pytest.raises(DecryptionError, match="LEOFLOW_SECRET_KEY_PREVIOUS"):
        _cipher().decrypt(blob, associated_data=AD)


def test_associated_data_binds_the_row() -> None:
    cipher = _cipher()
    tenant, row, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    blob = seal(cipher, tenant, row, "password", "hunter2")
    assert blob is not None
    assert unseal(cipher, tenant, row, "password", blob) == "hunter2"
    with pytest.raises(DecryptionError, match="moved to another row"):
        unseal(cipher, tenant, other, "password", blob)
    with pytest.raises(DecryptionError):
        unseal(cipher, tenant, row, "extra", blob)
    assert associated_data(tenant, row, "x") != associated_data(tenant, other, "x")


def test_tampering_is_detected() -> None:
    cipher = _cipher()
    blob = bytearray(cipher.encrypt("secret", associated_data=AD))
    blob[-1] ^= 1
    with pytest.raises(DecryptionError):
        cipher.decrypt(bytes(blob), associated_data=AD)
    with pytest.raises(DecryptionError, match="unknown format"):
        cipher.decrypt(b"\x02" + bytes(blob[1:]), associated_data=AD)


def test_previous_keys_still_open_old_values() -> None:
    old, new = os.urandom(32), os.urandom(32)
    blob = SecretCipher(old).encrypt("v", associated_data=AD)
    rotated = SecretCipher(new, [old])
    assert rotated.decrypt(blob, associated_data=AD) == "v"
    assert rotated.needs_rotation(blob)
    assert not rotated.needs_rotation(rotated.encrypt("v", associated_data=AD))


def test_key_parsing_accepts_base64_and_hex() -> None:
    raw = os.urandom(32)
    assert parse_secret_key(base64.b64encode(raw).decode()) == raw
    assert parse_secret_key(base64.urlsafe_b64encode(raw).decode().rstrip("=")) == raw
    assert parse_secret_key(raw.hex()) == raw
    assert parse_secret_key(raw.hex().upper()) == raw
    assert len(parse_secret_key(generate_secret_key())) == 32


@pytest.mark.parametrize(
    "value",
    ["", "   ", "too-short", base64.b64encode(os.urandom(16)).decode(), "zz" * 32, "!" * 44],
)
def test_bad_keys_name_the_setting(value: str) -> None:
    with pytest.raises(SecretKeyError, match="LEOFLOW_SECRET_KEY"):
        parse_secret_key(value)


@pytest.mark.parametrize(
    "name",
    ["password", "DB_PASSWORD", "x-api-key", "aws_secret_access_key", "auth-token", "my.dsn"],
)
def test_sensitive_names(name: str) -> None:
    assert should_hide_value_for_key(name)


@pytest.mark.parametrize("name", ["host", "region", "timeout", "user_name", None, 3])
def test_ordinary_names(name: object) -> None:
    assert not should_hide_value_for_key(name)


def test_redaction_walks_nested_values() -> None:
    value = {"a": 1, "password": "x", "nested": {"api_key": "y", "list": [{"token": "z"}]}}
    assert redact(value) == {
        "a": 1,
        "password": "***",
        "nested": {"api_key": "***", "list": [{"token": "***"}]},
    }
    assert redact_json_text(json.dumps(value)) == json.dumps(redact(value))
    assert redact_json_text("plain text") == "plain text"
    assert redact_json_text("anything", "my_secret") == "***"
    assert redact_json_text(None) is None


def test_merge_restores_masked_values() -> None:
    old = {"token": "real", "host": "a", "deep": {"password": "p"}}
    new = {"token": "***", "host": "b", "deep": {"password": "***"}, "extra": 1}
    assert merge_masked(new, old) == {
        "token": "real",
        "host": "b",
        "deep": {"password": "p"},
        "extra": 1,
    }
    assert merge_masked({"token": "new"}, old) == {"token": "new"}


def test_log_lines_mask_nested_secret_keys() -> None:
    from leoflow.telemetry.logging import mask_secret_fields

    event = {
        "event": "connection saved",
        "extra": {"token": "t-123", "host": "h"},
        "password": "p-123",
        "rows": [{"api_key": "k-123"}],
    }
    masked = mask_secret_fields(None, "info", event)
    assert masked == {
        "event": "connection saved",
        "extra": {"token": "***", "host": "h"},
        "password": "***",
        "rows": [{"api_key": "***"}],
    }
