"""Declarative DAGs: a ``dag.yaml`` written in ``dag.json`` field names compiles to the same
artifact as the equivalent Python DAG.

A ``dag.yaml`` holds the ``dag.json`` fields except ``schema_version`` and ``source`` (the
compiler adds them) and ``source_module`` (there is no Python DAG module to import); YAML
dates (``start_date: 2024-01-01``) are read as UTC. Python tasks name their callable as
``module:callable`` in the project folder. Duplicate keys are errors.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from leoflow.compiler.errors import CompileError
from leoflow.spec import SpecError
from leoflow.spec.yaml_loader import load_yaml_document

DOCUMENT = "dag.yaml"


def _as_iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).isoformat()
    return value


def load_yaml_dag(path: Path) -> dict[str, Any]:
    """The DAG of a ``dag.yaml`` as recorded-DAG data (the compiler's common input)."""
    text = path.read_text(encoding="utf-8")
    try:
        doc = load_yaml_document(text, document=DOCUMENT, source=str(path))
    except SpecError as exc:
        raise CompileError("dag", exc.problems) from None
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("dag_id"), str):
        raise CompileError(
            "dag", [f"{path}: the top level must be a mapping with dag_id and tasks"]
        )
    for forbidden in ("schema_version", "source"):
        if forbidden in data:
            raise CompileError(
                "dag", [f"{path}: remove '{forbidden}'; the compiler writes it into dag.json"]
            )
    if "source_module" in data:
        raise CompileError(
            "dag",
            [
                f"{path}: remove 'source_module'; it names the module a Python DAG file is "
                "imported as, and a dag.yaml is not one (entrypoints import from the project)"
            ],
        )
    result = {key: _as_iso(value) for key, value in data.items()}
    if not isinstance(result.get("tasks"), list):
        raise CompileError("dag", [f"{path}: tasks must be a list of task mappings"])
    return result
