"""Serializing task values (return values, pushed XComs) to JSON, with errors that locate the
offending element instead of Python's bare "Object of type X is not JSON serializable".

The message names the element's path and type, never its content (ADR 0022).
"""

from __future__ import annotations

import math
from typing import Any

from leoflow_sdk.runtime.contract import dump_json

JSON_TYPES_HINT = (
    "return or push JSON values only (dict with str keys, list, str, int, float, bool, None); "
    "convert the rest first, e.g. a datetime with .isoformat() or a set with list()"
)


class NotJsonSerializable(TypeError):
    """A value that cannot be stored as XCom, with the path to the first bad element."""


def _first_problem(value: Any, path: str, depth: int = 0) -> tuple[str, str] | None:
    if depth > 200:
        return path, "nesting deeper than 200 levels (a cycle?)"
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"the float {value!r}")
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _first_problem(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return path, f"a dict key of type {type(key).__name__}"
            found = _first_problem(item, f"{path}[{key!r}]", depth + 1)
            if found:
                return found
        return None
    return path, f"a {type(value).__module__}.{type(value).__qualname__}"


def serialize(value: Any, what: str) -> str:
    """Compact JSON of ``value``; ``NotJsonSerializable`` naming ``what`` and the bad element.

    Dict keys must be strings: Python's ``json`` would silently turn ``{1: "a"}`` into
    ``{"1": "a"}``, and a value that changes on its way through XCom is a silent bug.
    """
    problem = _first_problem(value, "value")
    if problem is None:
        try:
            return dump_json(value)
        except (TypeError, ValueError) as exc:  # pragma: no cover - caught by the walk above
            problem = ("value", str(exc))
    path, found = problem
    location = "" if path == "value" else f" at {path[len('value') :]}"
    raise NotJsonSerializable(
        f"{what} is not JSON-serializable: {found}{location}; {JSON_TYPES_HINT}"
    )
