"""Secrets at rest and in transit to people: the connection cipher and value masking."""

from leoflow.secrets.cipher import (
    SECRET_KEY_SETTING,
    DecryptionError,
    SecretCipher,
    SecretKeyError,
    generate_secret_key,
    parse_secret_key,
)
from leoflow.secrets.masking import (
    MASK,
    merge_masked,
    redact,
    redact_json_text,
    should_hide_value_for_key,
)

__all__ = [
    "MASK",
    "SECRET_KEY_SETTING",
    "DecryptionError",
    "SecretCipher",
    "SecretKeyError",
    "generate_secret_key",
    "merge_masked",
    "parse_secret_key",
    "redact",
    "redact_json_text",
    "should_hide_value_for_key",
]
