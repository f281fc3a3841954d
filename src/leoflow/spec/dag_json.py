"""Reading and writing ``dag.json`` files with readable errors.

JSON parsing is strict in the same spirit as the models: a key written twice in one object is
an error (``json`` would silently keep the last one), and so are ``NaN`` and ``Infinity``,
which are not JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from leoflow.spec.dag_spec import DagSpec
from leoflow.spec.errors import SpecError, looks_like_a_path, problems_from_validation_error

DOCUMENT = "dag.json"


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; write a number or null")


def parse_json_strict(text: str | bytes, *, document: str, source: str | None = None) -> Any:
    """``json.loads`` that refuses duplicate keys and NaN/Infinity, raising ``SpecError``."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except _DuplicateKeyError as exc:
        problem = f"duplicate key '{exc.key}' in one object; keep only one of them"
    except json.JSONDecodeError as exc:
        problem = f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        if isinstance(text, str) and looks_like_a_path(text, (".json",)):
            problem += "; to read a file, pass a pathlib.Path instead of a str"
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"not valid JSON: {exc}"
    raise SpecError([problem], document=document, source=source)


def dag_spec_from_data(data: Any, *, source: str | None = None) -> DagSpec:
    """Validate an already-parsed ``dag.json`` document; raises ``SpecError``."""
    if not isinstance(data, dict):
        raise SpecError(
            [f"the top level must be a JSON object, got {type(data).__name__}"],
            document=DOCUMENT,
            source=source,
        )
    try:
        return DagSpec.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation_error(exc, model=DagSpec, data=data)
        raise SpecError(problems, document=DOCUMENT, source=source) from None


def load_dag_json(text_or_path: str | bytes | os.PathLike[str]) -> DagSpec:
    """Load and validate a ``dag.json``: a path (``os.PathLike``) is read, text is parsed.

    Raises ``SpecError`` listing every problem, each with its location and fix.
    """
    source: str | None = None
    if isinstance(text_or_path, os.PathLike):
        path = Path(text_or_path)
        source = str(path)
        try:
            text: str | bytes = path.read_bytes()
        except OSError as exc:
            raise SpecError(
                [f"cannot read the file: {exc.strerror}"], document=DOCUMENT, source=source
            ) from None
    else:
        text = text_or_path
    data = parse_json_strict(text, document=DOCUMENT, source=source)
    return dag_spec_from_data(data, source=source)


def dump_dag_json(spec: DagSpec) -> str:
    """``dag.json`` text for ``spec``: 2-space indented, fields in schema order.

    Unset optional fields are left out; every optional field defaults to null, so
    ``load_dag_json(dump_dag_json(spec)) == spec``.
    """
    data = spec.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
