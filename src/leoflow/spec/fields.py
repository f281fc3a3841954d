"""Shared building blocks of the spec models: the strict base model and the constrained types.

Every spec model derives from ``SpecModel`` so that the two rules of the artifact hold
everywhere: unknown keys are errors (a typo must never be silently ignored) and a validated
spec is immutable. Numbers and booleans are strict: ``"3"`` or ``true`` is not a retry count.
Identifier types validate with a message that says what a valid value looks like, and still
publish their pattern in the exported JSON Schema.
"""

from __future__ import annotations

import keyword
import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, JsonValue
from pydantic.json_schema import WithJsonSchema


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors and instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


DAG_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,199}$"
TASK_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,249}$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
PY_IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Container image references, after the grammar of the distribution/reference package.
_DOMAIN_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:{_DOMAIN}/)?{_PATH_PART}(?:/{_PATH_PART})*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REF_PATTERN = rf"^{_REPOSITORY}(?::{_TAG})?(?:@{_DIGEST})?$"
REPOSITORY_PATTERN = rf"^{_REPOSITORY}$"


def _matches(pattern: str, what: str, rule: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{what} {value!r} is invalid: {rule}")
        return value

    return AfterValidator(check)


def _string_schema(pattern: str, max_length: int | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string", "pattern": pattern}
    if max_length is not None:
        schema["maxLength"] = max_length
    return WithJsonSchema(schema)


DagId = Annotated[
    str,
    _matches(
        DAG_ID_PATTERN, "dag_id", "use 1-200 letters, digits, '_' or '-', not starting with '-'"
    ),
    _string_schema(DAG_ID_PATTERN, 200),
]
"""A DAG id, as Airflow allows it minus dots (dots are reserved for TaskGroup task ids)."""

TaskId = Annotated[
    str,
    _matches(
        TASK_ID_PATTERN,
        "task_id",
        "use 1-250 letters, digits, '_', '-' or '.', not starting with '-' or '.'",
    ),
    _string_schema(TASK_ID_PATTERN, 250),
]
"""A task id; dots are allowed because TaskGroup members are named ``group.task``."""

EnvName = Annotated[
    str,
    _matches(
        ENV_NAME_PATTERN,
        "environment variable name",
        "use letters, digits and '_', not starting with a digit",
    ),
    _string_schema(ENV_NAME_PATTERN),
]
"""A POSIX-portable environment variable (or build argument) name."""

ImageRef = Annotated[
    str,
    _matches(
        IMAGE_REF_PATTERN,
        "image reference",
        "expected [registry[:port]/]name[:tag][@sha256:digest], e.g. ghcr.io/acme/etl:1.4",
    ),
    _string_schema(IMAGE_REF_PATTERN),
]
"""A container image reference as ``docker pull`` / Kubernetes accept it."""

Repository = Annotated[
    str,
    _matches(
        REPOSITORY_PATTERN,
        "registry",
        "expected a registry host with an optional path, e.g. ghcr.io/acme (no tag)",
    ),
    _string_schema(REPOSITORY_PATTERN),
]
"""An image repository prefix (where built images are pushed), without tag or digest."""


def _check_py_identifier(value: str) -> str:
    if not value.isidentifier() or keyword.iskeyword(value):
        raise ValueError(f"{value!r} is not a usable Python parameter name")
    return value


PyIdentifier = Annotated[
    str,
    AfterValidator(_check_py_identifier),
    WithJsonSchema({"type": "string", "pattern": PY_IDENTIFIER_PATTERN}),
]
"""A Python identifier that is not a keyword (a parameter name of the task callable)."""


def _check_relative_path(value: str) -> str:
    if not value.strip():
        raise ValueError("path must not be empty")
    posix = PurePosixPath(value)
    if posix.is_absolute() or PureWindowsPath(value).is_absolute() or "\\" in value:
        raise ValueError(
            f"path {value!r} must be relative to the project folder, with '/' separators"
        )
    if ".." in posix.parts:
        raise ValueError(f"path {value!r} must stay inside the project folder (no '..')")
    return value


RelativePath = Annotated[str, AfterValidator(_check_relative_path)]
"""A path inside the project folder (relative, no ``..``), written with ``/``."""


def _reject_numbers(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        raise ValueError(
            f"expected an ISO-8601 date-time string with a UTC offset, got the number {value!r}"
        )
    return value


# Strict scalars: no "3" -> 3 and no true -> 1 coercion in an artifact.
Count = Annotated[int, Field(strict=True, ge=0)]
"""A non-negative whole number (retries, …)."""

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
"""A whole number >= 1 (limits, TTLs, …)."""

Seconds = Annotated[float, Field(strict=True, ge=0)]
"""A duration in seconds, >= 0; whole or fractional."""

PositiveSeconds = Annotated[float, Field(strict=True, gt=0)]
"""A duration in seconds, > 0."""

StrictBool = Annotated[bool, Field(strict=True)]
"""``true`` or ``false`` only (not ``"yes"``, not ``1``)."""

NotNumber = BeforeValidator(_reject_numbers)
"""Refuses numbers where a date-time is expected (epoch numbers are ambiguous in a spec)."""

JsonObject = dict[str, JsonValue]
"""A JSON object with arbitrary JSON values."""


def non_empty(message: str) -> AfterValidator:
    """Refuse an empty sequence with ``message``.

    Checked after the items, unlike ``min_length``, which would add a confusing "0 items"
    error next to the real one when an item is invalid. Pair it with ``MIN_ONE_ITEM``.
    """

    def check(value: tuple[Any, ...]) -> tuple[Any, ...]:
        if not value:
            raise ValueError(message)
        return value

    return AfterValidator(check)


MIN_ONE_ITEM = Field(json_schema_extra={"minItems": 1})
"""Publishes "at least one item" in the JSON Schema (see ``non_empty``)."""
