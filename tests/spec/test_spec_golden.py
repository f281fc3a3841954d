"""Golden dag.json documents: every valid one loads, every invalid one fails with its message.

Each ``invalid/<name>.json`` has a sidecar ``<name>.expected``: one message fragment per line,
all of which must appear in the ``SpecError`` text.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leoflow.spec import DagSpec, SpecError, dump_dag_json, load_dag_json, spec_hash

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "spec"
VALID = sorted((GOLDEN / "valid").glob("*.json"))
INVALID = sorted((GOLDEN / "invalid").glob("*.json"))


def test_golden_sets_are_present() -> None:
    assert len(VALID) >= 6
    assert len(INVALID) >= 11
    missing = [p.name for p in INVALID if not p.with_suffix(".expected").is_file()]
    assert not missing, f"invalid examples without a .expected file: {missing}"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_golden_loads(path: Path) -> None:
    spec = load_dag_json(path)
    assert isinstance(spec, DagSpec)
    assert spec.topological_order()[0] in spec.task_ids


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_golden_loads_from_text_and_round_trips(path: Path) -> None:
    spec = load_dag_json(path.read_text(encoding="utf-8"))
    again = load_dag_json(dump_dag_json(spec))
    assert again == spec
    assert spec_hash(again) == spec_hash(spec)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_golden_fails_with_message(path: Path) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    with pytest.raises(SpecError) as info:
        load_dag_json(path)
    message = str(info.value)
    assert info.value.problems
    assert str(path) in message
    for fragment in filter(None, expected):
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_golden_set_covers_every_trigger_rule_and_task_type() -> None:
    rules: set[str] = set()
    types: set[str] = set()
    for path in VALID:
        for task in json.loads(path.read_text(encoding="utf-8"))["tasks"]:
            rules.add(task.get("trigger_rule", "all_success"))
            types.add(task["type"])
    assert types == {"python", "bash", "http_api", "empty"}
    assert rules == {
        "all_success",
        "all_failed",
        "all_done",
        "one_success",
        "one_failed",
        "none_failed",
        "none_skipped",
        "always",
    }
