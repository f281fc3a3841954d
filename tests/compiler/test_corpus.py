"""Every corpus DAG compiles to its golden dag.json (LEOFLOW_UPDATE_GOLDEN=1 regenerates)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leoflow.compiler import CompileError, compile_project
from leoflow.spec import dump_dag_json, load_dag_json

from .conftest import DAGS, GOLDEN

UPDATE = os.environ.get("LEOFLOW_UPDATE_GOLDEN") == "1"
NEEDS_KEYED_XCOM = {"tutorial_taskflow_api"}


def _corpus() -> list[object]:
    files = sorted([*DAGS.glob("*.py"), *DAGS.glob("*.yaml")])
    params: list[object] = []
    for path in files:
        marks = []
        if path.stem in NEEDS_KEYED_XCOM:
            marks.append(
                pytest.mark.xfail(
                    strict=True,
                    raises=CompileError,
                    reason="multiple_outputs/result['key'] need keyed xcom_input in dag.json",
                )
            )
        params.append(pytest.param(path, id=path.name, marks=marks))
    return params


def test_corpus_is_large_enough() -> None:
    assert len(_corpus()) >= 25


@pytest.mark.parametrize("dag_file", _corpus())
def test_corpus_dag_matches_golden(dag_file: Path) -> None:
    result = compile_project(dag_file)
    text = dump_dag_json(result.spec)
    golden = GOLDEN / f"{dag_file.stem}.json"
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file; run with LEOFLOW_UPDATE_GOLDEN=1 to create {golden}"
    assert text == golden.read_text(encoding="utf-8")
    assert load_dag_json(text) == result.spec


def test_tutorial_error_names_the_gap() -> None:
    dag_file = DAGS / "tutorial_taskflow_api.py"
    with pytest.raises(CompileError) as info:
        compile_project(dag_file)
    assert info.value.problems == [
        f"not supported by Leoflow yet: multiple_outputs=True, at {dag_file}:66. Fix: return "
        "one value (e.g. a dict) and read its keys in the downstream task"
    ]
