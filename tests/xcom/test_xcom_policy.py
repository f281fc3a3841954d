"""The XCom policy alone: sizes, content, schema, TTL, and details that never quote a value."""

from __future__ import annotations

import json

import pytest

from leoflow.xcom import XComPolicy, XComRejected, XComRejectionReason
from leoflow.xcom.policy import DEFAULT_MAX_SIZE_BYTES, DEFAULT_TTL_SECONDS, human_size

POLICY = XComPolicy(max_size_bytes=100)


def _reason(call: object) -> XComRejected:
    with pytest.raises(XComRejected) as info:
        call()  # type: ignore[operator]
    return info.value


def test_defaults_are_256_kib_and_seven_days() -> None:
    policy = XComPolicy()
    assert policy.max_size_bytes == DEFAULT_MAX_SIZE_BYTES == 256 * 1024
    assert policy.ttl_seconds(None) == DEFAULT_TTL_SECONDS == 7 * 86400
    assert policy.ttl_seconds(60) == 60


def test_a_value_at_the_limit_passes_and_one_byte_more_is_too_large() -> None:
    exact = json.dumps("a" * 98).encode()
    assert len(exact) == 100
    assert POLICY.check_push("", exact, "application/json") == "a" * 98
    over = json.dumps("a" * 99).encode()
    rejected = _reason(lambda: POLICY.check_push("", over, "application/json"))
    assert rejected.reason is XComRejectionReason.TOO_LARGE
    assert "101 B" in rejected.detail and "100 B" in rejected.detail
    assert rejected.max_size_bytes == 100


def test_content_must_be_json_of_the_declared_size() -> None:
    assert (
        _reason(lambda: POLICY.check_push("k", b"x", "text/plain")).reason
        is XComRejectionReason.INVALID_CONTENT
    )
    assert (
        _reason(lambda: POLICY.check_push("k", b"{oops", "application/json")).reason
        is XComRejectionReason.INVALID_CONTENT
    )
    mismatch = _reason(lambda: POLICY.check_push("k", b"1", "application/json", declared_size=5))
    assert "declares 5 B but 1 B" in mismatch.detail
    assert POLICY.check_push("k", b"1", "application/json; charset=utf-8") == 1
    long_key = _reason(lambda: POLICY.check_push("k" * 600, b"1", ""))
    assert long_key.reason is XComRejectionReason.INVALID_CONTENT


def test_schema_mismatch_names_the_place_and_rule_but_never_the_value() -> None:
    schema = {
        "type": "object",
        "properties": {"rows": {"type": "array", "items": {"type": "integer"}}},
    }
    policy = XComPolicy()
    value = json.dumps({"rows": [1, "sk-live-SECRET"]}).encode()
    rejected = _reason(lambda: policy.check_push("", value, "", schema=schema))
    assert rejected.reason is XComRejectionReason.SCHEMA_MISMATCH
    assert "$.rows[1]" in rejected.detail and "'type'" in rejected.detail
    assert "SECRET" not in rejected.detail and "SECRET" not in str(rejected)
    # keyed pushes (multiple_outputs parts) are not validated against the return schema
    assert policy.check_push("rows", b'"x"', "", schema=schema) == "x"
    assert policy.check_push("", b'{"rows": [1, 2]}', "", schema=schema) == {"rows": [1, 2]}


def test_fan_in_counts_brackets_commas_and_nulls() -> None:
    policy = XComPolicy(max_size_bytes=20)
    assert policy.check_fan_in("xs", [1, 1, None]) == len(b"[1,1,null]")
    assert policy.check_fan_in("xs", []) == 2
    rejected = _reason(lambda: policy.check_fan_in("xs", [8, 8, 8]))
    assert rejected.reason is XComRejectionReason.TOO_LARGE
    assert "fan-in input 'xs'" in rejected.detail and "3 upstream values" in rejected.detail


def test_human_sizes() -> None:
    assert human_size(512) == "512 B"
    assert human_size(256 * 1024) == "256 KiB"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024 * 1024) == "3.0 MiB"
