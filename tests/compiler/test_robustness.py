"""A DAG file that hangs, crashes or prints is reported, never fatal to the caller."""

from __future__ import annotations

import pytest

from leoflow.compiler import CompileError, compile_project

from .conftest import MakeProject

SIMPLE = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.empty import EmptyOperator
{extra}
with DAG("simple", schedule=None, start_date=datetime(2024, 1, 1)):
    EmptyOperator(task_id="only")
"""


def test_hanging_dag_times_out(make_project: MakeProject) -> None:
    project = make_project(SIMPLE.format(extra="import time\ntime.sleep(60)"))
    with pytest.raises(CompileError) as info:
        compile_project(project, timeout=1.0)
    assert info.value.kind == "timeout"
    assert "did not finish within 1 s" in info.value.problems[0]


def test_crashing_dag_reports_traceback_excerpt(make_project: MakeProject) -> None:
    project = make_project(
        SIMPLE.format(extra="def boom():\n    raise KeyError('missing')\nboom()")
    )
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.kind == "crash"
    assert info.value.problems == ["importing the DAG file raised KeyError: 'missing'"]
    assert info.value.detail is not None
    assert f'File "{project / "dag.py"}", line 6, in boom' in info.value.detail


def test_missing_dependency_is_a_crash_with_the_import_error(make_project: MakeProject) -> None:
    project = make_project(SIMPLE.format(extra="import not_installed_anywhere"))
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert "ModuleNotFoundError" in info.value.problems[0]


def test_printing_dag_still_compiles(make_project: MakeProject) -> None:
    extra = "import sys, os\nprint('{\"not\": \"json\"')\nprint('noise', file=sys.stderr)"
    result = compile_project(make_project(SIMPLE.format(extra=extra)))
    assert result.spec.task_ids == ("only",)
    assert "noise" in result.output


def test_sys_exit_in_dag_file_is_reported(make_project: MakeProject) -> None:
    project = make_project(SIMPLE.format(extra="raise SystemExit(3)"))
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.problems == ["importing the DAG file raised SystemExit: 3"]


def test_control_plane_environment_is_not_visible(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEOFLOW_DATABASE_URL", "postgresql://secret")
    extra = "import os\nassert 'LEOFLOW_DATABASE_URL' not in os.environ, 'leaked'"
    assert compile_project(make_project(SIMPLE.format(extra=extra))).spec.dag_id == "simple"


def test_sibling_module_imports_from_the_dag_folder(make_project: MakeProject) -> None:
    project = make_project(SIMPLE.format(extra="import sibling_helper"))
    (project / "sibling_helper.py").write_text("VALUE = 1\n")
    assert compile_project(project).spec.dag_id == "simple"


def test_two_dags_without_config_must_be_disambiguated(make_project: MakeProject) -> None:
    extra = (
        'with DAG("other", schedule=None, start_date=datetime(2024, 1, 1)):\n'
        '    EmptyOperator(task_id="x")'
    )
    project = make_project(SIMPLE.format(extra=extra))
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.problems == [
        f"{project / 'dag.py'} defines 2 DAGs (other, simple); add leoflow.yaml with dag_id "
        "to pick one"
    ]


def test_file_name_shadowing_stdlib_is_refused(make_project: MakeProject) -> None:
    project = make_project(SIMPLE.format(extra=""), name="json.py")
    with pytest.raises(CompileError) as info:
        compile_project(project / "json.py")
    assert "shadows the Python module 'json'" in info.value.problems[0]
