"""``spec_hash``: the same content gives the same hash, whatever the layout or dag_version."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from leoflow.spec import DagSpec, canonical_json, load_dag_json, spec_hash

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "spec" / "valid"
ETL: dict[str, Any] = json.loads((GOLDEN / "taskflow_etl.json").read_text(encoding="utf-8"))
ETL_HASH = spec_hash(DagSpec.model_validate(ETL))


def _spec(data: dict[str, Any]) -> DagSpec:
    return DagSpec.model_validate(data)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(inner, rng) for key, inner in items}
    if isinstance(value, list):
        return [_shuffled(inner, rng) for inner in value]
    return value


def test_hash_is_sha256_of_canonical_json_without_dag_version() -> None:
    spec = _spec(ETL)
    payload = spec.model_dump(mode="json")
    del payload["dag_version"]
    expected = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert spec_hash(spec) == expected
    assert len(expected) == 64


def test_canonical_json_is_compact_sorted_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'.encode()


@given(seed=st.integers(min_value=0, max_value=2**32))
def test_key_order_does_not_matter(seed: int) -> None:
    shuffled = _shuffled(ETL, random.Random(seed))
    assert spec_hash(_spec(shuffled)) == ETL_HASH
    assert spec_hash(load_dag_json(json.dumps(shuffled, indent=seed % 4))) == ETL_HASH


@given(version=st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,20}", fullmatch=True))
def test_dag_version_is_excluded(version: str) -> None:
    assert spec_hash(_spec({**ETL, "dag_version": version})) == ETL_HASH
    without = {key: value for key, value in ETL.items() if key != "dag_version"}
    assert spec_hash(_spec(without)) == ETL_HASH


def test_explicit_defaults_hash_like_omitted_ones() -> None:
    explicit = {**ETL, "schedule_timezone": "UTC", "max_active_runs": 16, "staging": None}
    assert spec_hash(_spec(explicit)) == ETL_HASH


def _task(data: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(t for t in data["tasks"] if t["task_id"] == task_id)


# One content change per top-level field: adding a field to DagSpec needs a line here.
TOP_LEVEL_CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "schema_version": lambda d: None,  # only one version exists; nothing else to change to
    "dag_id": lambda d: d.update(dag_id="taskflow_etl_v2"),
    "image": lambda d: d.update(image="ghcr.io/acme/taskflow_etl:1.4.1"),
    "description": lambda d: d.update(description="Other text."),
    "doc_md": lambda d: d.update(doc_md="# Orders"),
    "owner": lambda d: d.update(owner="someone-else"),
    "tags": lambda d: d.update(tags=["orders", "etl"]),
    "schedule": lambda d: d.update(schedule="@hourly"),
    "schedule_timezone": lambda d: d.update(schedule_timezone="Europe/Paris"),
    "start_date": lambda d: d.update(start_date="2024-01-02T00:00:00Z"),
    "end_date": lambda d: d.update(end_date="2030-01-01T00:00:00Z"),
    "catchup": lambda d: d.update(catchup=True),
    "max_active_runs": lambda d: d.update(max_active_runs=3),
    "max_active_tasks": lambda d: d.update(max_active_tasks=2),
    "params": lambda d: d["params"].update(region="us"),
    "params_schema": lambda d: d.update(params_schema={"limit": {"type": "integer"}}),
    "default_args": lambda d: d["default_args"].update(retries=3),
    "staging": lambda d: d.update(staging={"size": "1Gi"}),
    "xcom_ttl_seconds": lambda d: d.update(xcom_ttl_seconds=60),
    "python_environment": lambda d: d.update(
        python_environment={"python_version": "3.12", "dependencies": ["pendulum>=3"]}
    ),
    "source_module": lambda d: d.update(source_module="orders_dag"),
    "source": lambda d: d.update(source=d["source"] + "\n# comment\n"),
    "tasks": lambda d: _task(d, "load").update(retries=6),
}


def test_every_field_but_dag_version_is_covered_by_a_change() -> None:
    assert set(TOP_LEVEL_CHANGES) | {"dag_version"} == set(DagSpec.model_fields)


def test_each_content_change_changes_the_hash() -> None:
    for field, change in TOP_LEVEL_CHANGES.items():
        if field == "schema_version":
            continue
        data = copy.deepcopy(ETL)
        change(data)
        assert spec_hash(_spec(data)) != ETL_HASH, field


TASK_CHANGES: list[Callable[[dict[str, Any]], None]] = [
    lambda t: t.update(trigger_rule="all_done"),
    lambda t: t.update(retry_delay_seconds=1),
    lambda t: t.update(retry_exponential_backoff=False),
    lambda t: t.update(execution_timeout_seconds=5),
    lambda t: t.update(entrypoint="dag:load_v2"),
    lambda t: t["env"].update(EXTRA="1"),
    lambda t: t.update(resources={"limits": {"cpu": "1"}}),
    lambda t: t.update(execution={"service_account": "loader"}),
    lambda t: t.update(call_args={"mode": "full"}),
    lambda t: t.update(xcom_schema={"type": "null"}),
    lambda t: t.update(xcom_input={"summary": ["transform"]}),
    lambda t: t.update(depends_on=["extract", "transform"]),
    lambda t: t.update(multiple_outputs=True),
    lambda t: t.update(doc_md="Loads the totals."),
]


@given(index=st.integers(min_value=0, max_value=len(TASK_CHANGES) - 1))
def test_task_changes_change_the_hash(index: int) -> None:
    data = copy.deepcopy(ETL)
    TASK_CHANGES[index](_task(data, "load"))
    assert spec_hash(_spec(data)) != ETL_HASH


@given(text=st.text(min_size=1, max_size=40))
def test_any_description_change_changes_the_hash(text: str) -> None:
    data = {**ETL, "description": text}
    same = text == ETL["description"]
    assert (spec_hash(_spec(data)) == ETL_HASH) is same


@given(value=st.one_of(st.integers(), st.text(max_size=10), st.booleans(), st.none()))
def test_any_param_change_changes_the_hash(value: object) -> None:
    data = copy.deepcopy(ETL)
    data["params"]["new_param"] = value
    assert spec_hash(_spec(data)) != ETL_HASH
