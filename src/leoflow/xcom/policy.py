"""What may be stored as an XCom: size, content, schema and lifetime, decided before any write.

Backends only store and fetch (ADR 0005); every rule lives here so Postgres and Redis cannot
disagree. Rejections carry a reason from a small fixed set (``too_large``, ``schema_mismatch``,
``invalid_content``, ``stale_try``) and a detail that names the problem and the fix without
ever quoting the value: details end up in task logs and agent errors (ADR 0022).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

DEFAULT_MAX_SIZE_BYTES = 256 * 1024
"""Per value and per assembled fan-in array: XCom is for small data, not datasets."""

DEFAULT_TTL_SECONDS = 7 * 86400
"""How long a value outlives its push unless the DAG sets ``xcom_ttl_seconds``."""

JSON_CONTENT_TYPE = "application/json"
RETURN_VALUE_KEY = "return_value"
MAX_KEY_LENGTH = 512
_NULL_SIZE = len(b"null")


class XComRejectionReason(StrEnum):
    """Why a value was not stored (or an input not delivered)."""

    TOO_LARGE = "too_large"
    SCHEMA_MISMATCH = "schema_mismatch"
    INVALID_CONTENT = "invalid_content"
    STALE_TRY = "stale_try"


class XComRejected(Exception):
    """A push (or a fan-in delivery) refused by the policy; ``detail`` is safe to log."""

    def __init__(self, reason: XComRejectionReason, detail: str, max_size_bytes: int) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
        self.max_size_bytes = max_size_bytes


def human_size(size: int) -> str:
    """``262144`` → ``256 KiB``; sizes in messages are for people."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KiB" if size % 1024 == 0 else f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


@lru_cache(maxsize=256)
def _validator(schema_text: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text))


def _json_path(path: Sequence[Any]) -> str:
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def describe_schema_error(error: ValidationError) -> str:
    """Where and which rule failed, from the schema side only (the instance is never quoted:
    jsonschema's own message embeds the offending value, which may be a secret)."""
    expected = error.validator_value
    rule = str(error.validator)
    if isinstance(expected, str | int | float | bool) or (
        isinstance(expected, list) and all(isinstance(v, str | int | float) for v in expected)
    ):
        shown = json.dumps(expected)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        return f"value at {_json_path(error.absolute_path)} fails '{rule}' ({rule}: {shown})"
    return f"value at {_json_path(error.absolute_path)} fails '{rule}'"


@dataclass(frozen=True)
class XComPolicy:
    """Limits in force on one control plane (platform settings; the DAG may set the TTL)."""

    max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES
    default_ttl_seconds: int = DEFAULT_TTL_SECONDS

    def ttl_seconds(self, dag_ttl_seconds: int | None) -> int:
        """The DAG's ``xcom_ttl_seconds`` when set, else the platform default."""
        return int(dag_ttl_seconds) if dag_ttl_seconds else self.default_ttl_seconds

    def _reject(self, reason: XComRejectionReason, detail: str) -> XComRejected:
        return XComRejected(reason, detail, self.max_size_bytes)

    def check_key(self, key: str) -> str:
        """The effective key (empty = ``return_value``), or ``invalid_content``."""
        key = key or RETURN_VALUE_KEY
        if len(key) > MAX_KEY_LENGTH:
            raise self._reject(
                XComRejectionReason.INVALID_CONTENT,
                f"XCom key is {len(key)} characters long; keys are limited to {MAX_KEY_LENGTH}",
            )
        return key

    def check_push(
        self,
        key: str,
        value: bytes,
        content_type: str,
        *,
        declared_size: int | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Any:
        """Validate one value before it is stored; returns the decoded JSON.

        The size is checked before decoding, so an oversized value costs no parsing. The
        task's ``xcom_schema`` applies to its return value only (keyed pushes of
        ``multiple_outputs`` are parts of that value, already validated as a whole).
        """
        key = self.check_key(key)
        content_type = content_type or JSON_CONTENT_TYPE
        if content_type.split(";")[0].strip().lower() != JSON_CONTENT_TYPE:
            raise self._reject(
                XComRejectionReason.INVALID_CONTENT,
                f"XCom content type {content_type!r} is not supported; serialize the value as "
                f"JSON ({JSON_CONTENT_TYPE})",
            )
        if declared_size is not None and declared_size != len(value):
            raise self._reject(
                XComRejectionReason.INVALID_CONTENT,
                f"XCom '{key}' declares {declared_size} B but {len(value)} B arrived; the "
                "value was truncated or altered in transit",
            )
        if len(value) > self.max_size_bytes:
            raise self._reject(
                XComRejectionReason.TOO_LARGE,
                f"XCom '{key}' is {human_size(len(value))}, over the "
                f"{human_size(self.max_size_bytes)} limit; return a reference (a path in the "
                "staging dir, an object-store URL) instead of the data",
            )
        try:
            decoded = json.loads(value)
        except (UnicodeDecodeError, ValueError):
            raise self._reject(
                XComRejectionReason.INVALID_CONTENT,
                f"XCom '{key}' is not valid JSON; return JSON-serializable values",
            ) from None
        if schema is not None and key == RETURN_VALUE_KEY:
            self.check_schema(decoded, schema)
        return decoded

    def check_schema(self, decoded: Any, schema: Mapping[str, Any]) -> None:
        """``schema_mismatch`` naming the first failing location and rule."""
        validator = _validator(json.dumps(schema, sort_keys=True))
        error = next(iter(sorted(validator.iter_errors(decoded), key=lambda e: e.path)), None)
        if error is not None:
            raise self._reject(
                XComRejectionReason.SCHEMA_MISMATCH,
                f"return value does not match the task's xcom_schema: "
                f"{describe_schema_error(error)}; fix the value or the schema",
            )

    def check_fan_in(self, param: str, sizes: Sequence[int | None]) -> int:
        """The size of the JSON array assembled for a fan-in parameter (``None`` = missing
        upstream, delivered as ``null``); ``too_large`` beyond the limit."""
        total = 2 + max(len(sizes) - 1, 0) + sum(_NULL_SIZE if s is None else s for s in sizes)
        if total > self.max_size_bytes:
            raise self._reject(
                XComRejectionReason.TOO_LARGE,
                f"fan-in input '{param}' would be {human_size(total)} ({len(sizes)} upstream "
                f"values), over the {human_size(self.max_size_bytes)} limit; have the upstream "
                "tasks return smaller values or references",
            )
        return total
