"""How a task names the XCom values it reads (``xcom_input``) and the schema of what it pushes.

An ``xcom_input`` entry is either an upstream ``task_id`` (that task's return value) or an
object ``{"task_id": ..., "key": ...}`` (one keyed XCom of that task). Leoflow pushes keyed
XComs only for python tasks with ``multiple_outputs`` (one per key of the returned dict, as
Airflow does), so a keyed entry must point at such a task; the DAG-level check enforces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, Discriminator, Field, JsonValue, Tag

from leoflow.spec.fields import MIN_ONE_ITEM, JsonObject, SpecModel, TaskId, non_empty

XCOM_RETURN_KEY = "return_value"
"""The XCom key of a task's return value (Airflow's ``XCOM_RETURN_KEY``)."""

XCOM_KEY_MAX_LENGTH = 512
"""Airflow stores XCom keys in a 512-character column; longer keys could not round-trip."""

_TASK_ID_TAG = "<task_id>"
_REF_TAG = "<ref>"

JSON_SCHEMA_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})


def _check_xcom_key(key: str) -> str:
    if key == XCOM_RETURN_KEY:
        raise ValueError(
            f"key '{XCOM_RETURN_KEY}' is the task's whole return value; write the upstream "
            "task_id as a plain string instead of an object"
        )
    return key


XcomKey = Annotated[
    str,
    Field(min_length=1, max_length=XCOM_KEY_MAX_LENGTH),
    AfterValidator(_check_xcom_key),
]
"""The key of one keyed XCom (with ``multiple_outputs``, a key of the returned dict)."""


class XcomRef(SpecModel):
    """One keyed XCom pushed by an upstream task (``result["key"]`` in a TaskFlow call)."""

    task_id: TaskId
    key: XcomKey


def _source_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return _TASK_ID_TAG
    if isinstance(value, dict | XcomRef):
        return _REF_TAG
    return None


XcomSource = Annotated[
    Annotated[TaskId, Tag(_TASK_ID_TAG)] | Annotated[XcomRef, Tag(_REF_TAG)],
    Discriminator(
        _source_kind,
        custom_error_type="xcom_source_type",
        custom_error_message="an xcom_input entry is an upstream task_id or an object "
        '{"task_id": "...", "key": "..."}',
    ),
]
"""An upstream ``task_id`` (its return value) or an ``XcomRef`` (one keyed XCom of it)."""

XcomUpstreams = Annotated[
    tuple[XcomSource, ...],
    non_empty("an xcom_input parameter must name at least one upstream task_id"),
    MIN_ONE_ITEM,
]
"""What one parameter receives: one source is a plain value, several are a fan-in list."""


@dataclass(frozen=True, slots=True)
class XcomPull:
    """One XCom to fetch: the upstream task and the key (``return_value`` for a plain id)."""

    task_id: str
    key: str = XCOM_RETURN_KEY


def pull_of(source: str | XcomRef) -> XcomPull:
    """The ``(task_id, key)`` an ``xcom_input`` entry reads."""
    if isinstance(source, XcomRef):
        return XcomPull(source.task_id, source.key)
    return XcomPull(source)


def _check_json_schema(schema: dict[str, JsonValue]) -> dict[str, JsonValue]:
    declared = schema.get("type")
    names = declared if isinstance(declared, list) else [declared]
    if "type" in schema and not all(isinstance(n, str) and n in JSON_SCHEMA_TYPES for n in names):
        raise ValueError(
            f"JSON Schema 'type' {declared!r} is not a JSON Schema type; use one or a list of "
            f"{', '.join(sorted(JSON_SCHEMA_TYPES))}"
        )
    return schema


JsonSchema = Annotated[JsonObject, AfterValidator(_check_json_schema)]
"""A JSON Schema object (its ``type``, when given, must name JSON Schema types)."""


def schema_allows(schema: dict[str, JsonValue], json_type: str) -> bool:
    """Whether ``schema``'s ``type`` (absent = any) admits values of ``json_type``."""
    declared = schema.get("type")
    if declared is None:
        return True
    names = declared if isinstance(declared, list) else [declared]
    return json_type in names
