"""Masking of secret-looking values before they reach a response body or a log line.

The key list is Airflow's (``DEFAULT_SENSITIVE_FIELDS``) and the matching rule too: a key is
sensitive when, lower-cased with non-word runs turned into ``_``, it *contains* one of the
names, so ``db_password``, ``X-Api-Key`` and ``aws_secret_access_key`` are all hidden. Airflow
users already rely on these names to keep a value out of the UI.
"""

from __future__ import annotations

import json
import re
from typing import Any

MASK = "***"

SENSITIVE_FIELDS = frozenset(
    {
        "access_key",
        "access_token",
        "api_key",
        "apikey",
        "auth_header",
        "authorization",
        "bearer",
        "connection_string",
        "dsn",
        "passphrase",
        "passwd",
        "password",
        "private_key",
        "proxy",
        "proxy_password",
        "proxies",
        "secret",
        "service_account",
        "service_key",
        "token",
        "keyfile_dict",
        "webhook_url",
    }
)

_NON_WORD = re.compile(r"\W+")
_MAX_DEPTH = 20


def should_hide_value_for_key(name: object) -> bool:
    """Whether a value stored under ``name`` (variable key, extra key…) must be hidden."""
    if not isinstance(name, str):
        return False
    normalized = _NON_WORD.sub("_", name.strip().lower())
    return any(field in normalized for field in SENSITIVE_FIELDS)


def redact(value: Any, name: str | None = None, *, _depth: int = 0) -> Any:
    """A copy of ``value`` with every value under a sensitive key replaced by ``***``.

    ``name`` is the key ``value`` itself is stored under: when it is sensitive the whole value
    goes, whatever its type. Containers are walked (to a bounded depth).
    """
    if name is not None and should_hide_value_for_key(name) and value is not None:
        return MASK
    if _depth >= _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {k: redact(v, str(k), _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, None, _depth=_depth + 1) for v in value]
    return value


def redact_json_text(text: str | None, name: str | None = None) -> str | None:
    """Redact a value kept as text: JSON objects/arrays are walked, other text is kept whole.

    This is how Airflow renders variables and connection ``extra``: the JSON is re-serialized
    after masking, so a masked dict stays valid JSON.
    """
    if text is None:
        return None
    if name is not None and should_hide_value_for_key(name):
        return MASK
    try:
        decoded = json.loads(text)
    except ValueError:
        return text
    if not isinstance(decoded, dict | list):
        return text
    return json.dumps(redact(decoded))


def merge_masked(new: Any, old: Any, name: str | None = None, *, _depth: int = 0) -> Any:
    """Undo masking in a value sent back by a client: ``***`` under a sensitive key means
    "unchanged", so the stored value is kept (the UI posts forms with the masks it received)."""
    if name is not None and should_hide_value_for_key(name) and new == MASK:
        return old
    if _depth >= _MAX_DEPTH:
        return new
    if isinstance(new, dict) and isinstance(old, dict):
        return {k: merge_masked(v, old.get(k), str(k), _depth=_depth + 1) for k, v in new.items()}
    return new
