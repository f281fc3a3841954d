"""Every corpus DAG compiles to its golden dag.json (LEOFLOW_UPDATE_GOLDEN=1 regenerates)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.compiler import compile_project
from leoflow.spec import dump_dag_json, load_dag_json

from .conftest import DAGS, GOLDEN

UPDATE = os.environ.get("LEOFLOW_UPDATE_GOLDEN") == "1"


def _corpus() -> list[Path]:
    return sorted([*DAGS.glob("*.py"), *DAGS.glob("*.yaml")])


def test_corpus_is_large_enough() -> None:
    assert len(_corpus()) >= 25


@pytest.mark.parametrize("dag_file", _corpus(), ids=lambda path: path.name)
def test_corpus_dag_matches_golden(dag_file: Path) -> None:
    result = compile_project(dag_file)
    text = dump_dag_json(result.spec)
    golden = GOLDEN / f"{dag_file.stem}.json"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file; run with LEOFLOW_UPDATE_GOLDEN=1 to create {golden}"
    assert text == golden.read_text(encoding="utf-8")
    assert load_dag_json(text) == result.spec
