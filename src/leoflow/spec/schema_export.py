"""JSON Schema files exported from the spec models (``docs/schemas/``).

The pydantic models are the source of truth; the committed schema files let editors and other
tools validate ``dag.json`` and ``leoflow.yaml`` without Leoflow installed.
``leoflow.devtools.generated`` compares the committed files with ``render_schemas()`` in CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from leoflow.spec.dag_spec import SCHEMA_VERSION, DagSpec
from leoflow.spec.project_yaml import LeoflowYaml

SCHEMA_DIR = Path("docs/schemas")
DAG_SCHEMA_PATH = SCHEMA_DIR / "dag.schema.json"
LEOFLOW_YAML_SCHEMA_PATH = SCHEMA_DIR / "leoflow-yaml.schema.json"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(model: type[BaseModel], schema_id: str, title: str) -> str:
    schema: dict[str, Any] = model.model_json_schema()
    schema.update({"$schema": JSON_SCHEMA_DIALECT, "$id": schema_id, "title": title})
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def render_schemas() -> dict[Path, str]:
    """The schema files (paths relative to the repository root) and their exact content."""
    return {
        DAG_SCHEMA_PATH: _schema(
            DagSpec,
            f"urn:leoflow:schema:dag:{SCHEMA_VERSION}",
            f"Leoflow dag.json (schema_version {SCHEMA_VERSION})",
        ),
        LEOFLOW_YAML_SCHEMA_PATH: _schema(
            LeoflowYaml,
            "urn:leoflow:schema:leoflow-yaml",
            "Leoflow leoflow.yaml",
        ),
    }
