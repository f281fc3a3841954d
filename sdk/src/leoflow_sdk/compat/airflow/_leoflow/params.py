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
        """The recorded form: ``{"value", "description", "schema"}`` with JSON values only."""
        where = f"Param '{name}'"
        out: dict[str, Any] = {
            "value": json_literal(self.value, where) if self.has_default() else None
        }
        if self.description is not None:
            out["description"] = self.description
        out["schema"] = json_literal(self.schema, where)
        return out


def params_to_json(params: dict[str, Any] | None) -> dict[str, Any]:
    """Plain values become ``Param(value)``; the result is JSON-ready."""
    result: dict[str, Any] = {}
    for name, raw in (params or {}).items():
        param = raw if isinstance(raw, Param) else Param(raw)
        result[str(name)] = param.to_json(str(name))
    return result
