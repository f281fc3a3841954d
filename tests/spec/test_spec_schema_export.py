"""The committed JSON Schemas in docs/schemas are exactly what the models export, and the
field reference in docs/dag-json.md has a row for every dag.json field."""

from __future__ import annotations

import json
from pathlib import Path

from leoflow.spec import DagSpec, DefaultArgs, TaskSpec
from leoflow.spec.schema_export import render_schemas

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_models() -> None:
    rendered = render_schemas()
    assert set(rendered) == {
        Path("docs/schemas/dag.schema.json"),
        Path("docs/schemas/leoflow-yaml.schema.json"),
    }
    for rel, text in rendered.items():
        committed = REPO_ROOT / rel
        assert committed.is_file(), f"{rel} is missing; run `make regen`"
        assert committed.read_text(encoding="utf-8") == text, f"{rel} drifted; run `make regen`"


def test_schemas_carry_identity_and_forbid_unknown_keys() -> None:
    for text in render_schemas().values():
        schema = json.loads(text)
        assert schema["$id"].startswith("urn:leoflow:schema:")
        assert schema["title"].startswith("Leoflow ")
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["additionalProperties"] is False
        for definition in schema.get("$defs", {}).values():
            if definition.get("type") == "object" and "properties" in definition:
                assert definition["additionalProperties"] is False, definition["title"]


def test_dag_schema_requires_the_core_fields() -> None:
    schema = json.loads(render_schemas()[Path("docs/schemas/dag.schema.json")])
    assert set(schema["required"]) == {"schema_version", "dag_id", "source", "tasks"}
    assert schema["properties"]["schema_version"]["const"] == "1.0"
    assert schema["properties"]["tasks"]["minItems"] == 1


def test_reference_documents_every_dag_json_field() -> None:
    text = (REPO_ROOT / "docs" / "dag-json.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| `")}
    for model in (DagSpec, DefaultArgs, TaskSpec):
        missing = [name for name in model.model_fields if f"`{name}`" not in rows]
        assert not missing, f"docs/dag-json.md has no row for {model.__name__} {missing}"
