"""``Param``: a DAG run parameter with a default and a JSON Schema, as in Airflow."""

from __future__ import annotations

from typing import Any

from .convert import json_literal

_NOTSET: Any = object()


class Param:
    """A run parameter: default value, optional description and JSON Schema keywords."""

    def __init__(
        self, default: Any = _NOTSET, description: str | None = None, **schema: Any
    ) -> None:
        self.value = default
        self.description = description
        self.schema = schema

    def has_default(self) -> bool:
        """Whether a default value was given (a Param without one must be set at trigger)."""
        return self.value is not _NOTSET

    def to_json(self, name: str) -> dict[str, Any]:
        """The recorded form: ``{"value"?, "schema"?}`` with JSON values only.

        ``value`` is left out when the Param has no default; ``schema`` holds the JSON Schema
        keywords including ``description``, and is left out for a plain value.
        """
        where = f"Param '{name}'"
        out: dict[str, Any] = {}
        if self.has_default():
            out["value"] = json_literal(self.value, where)
        schema = dict(self.schema)
        if self.description is not None:
            schema["description"] = self.description
        if schema or not self.has_default():
            out["schema"] = json_literal(schema, where)
        return out


def params_to_json(params: dict[str, Any] | None) -> dict[str, Any]:
    """Plain values become ``Param(value)``; the result is JSON-ready."""
    result: dict[str, Any] = {}
    for name, raw in (params or {}).items():
        param = raw if isinstance(raw, Param) else Param(raw)
        result[str(name)] = param.to_json(str(name))
    return result
