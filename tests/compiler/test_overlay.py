"""leoflow.yaml is baked in: metadata, defaults, task overrides, selection by dag_id."""

from __future__ import annotations

import pytest

from leoflow.compiler import CompileError, compile_project

from .conftest import MakeProject

TWO_DAGS = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG("first", schedule=None, start_date=datetime(2024, 1, 1),
         default_args={"retries": 1, "retry_delay": timedelta(seconds=5)}):
    a = BashOperator(task_id="a", bash_command="true", retries=2)
    b = BashOperator(task_id="b", bash_command="true")
    a >> b

with DAG("second", schedule=None, start_date=datetime(2024, 1, 1)):
    BashOperator(task_id="c", bash_command="true")
"""


def test_selects_dag_and_reports_config(make_project: MakeProject) -> None:
    project = make_project(TWO_DAGS, "dag_id: second\n")
    result = compile_project(project)
    assert result.spec.dag_id == "second"
    assert result.config_used == str(project / "leoflow.yaml")
    assert result.found_dag_ids == ["first", "second"]


def test_unknown_dag_id_lists_found_ids(make_project: MakeProject) -> None:
    project = make_project(TWO_DAGS, "dag_id: third\n")
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.problems == [
        f"leoflow.yaml names dag_id 'third' but {project / 'dag.py'} defines first, second; "
        "fix dag_id in leoflow.yaml or the DAG's id"
    ]


def test_precedence_task_override_over_dag_default(make_project: MakeProject) -> None:
    config = """
        dag_id: first
        owner: platform
        tags: [nightly]
        defaults:
          retries: 4
          execution_timeout_seconds: 60
        xcom_ttl_seconds: 3600
        tasks:
          b:
            retries: 7
            trigger_rule: all_done
            env: {MODE: fast}
    """
    spec = compile_project(make_project(TWO_DAGS, config)).spec
    assert spec.owner == "platform"
    assert spec.tags == ("nightly",)
    assert spec.xcom_ttl_seconds == 3600
    assert spec.default_args.retries == 4
    assert spec.default_args.retry_delay_seconds == 5
    assert spec.default_args.execution_timeout_seconds == 60
    a, b = spec.task("a"), spec.task("b")
    assert a.retries == 2
    assert b.retries == 7
    assert b.trigger_rule == "all_done"
    assert b.env == {"MODE": "fast"}


def test_platform_defaults_are_not_written(make_project: MakeProject) -> None:
    spec = compile_project(make_project(TWO_DAGS, "dag_id: second\n")).spec
    task = spec.task("c")
    assert task.retries is None
    assert task.retry_delay_seconds is None
    assert task.execution_timeout_seconds is None
    assert spec.default_args.retries is None


def test_override_for_unknown_task_lists_real_ids(make_project: MakeProject) -> None:
    config = "dag_id: first\ntasks:\n  bb:\n    retries: 1\n"
    with pytest.raises(CompileError) as info:
        compile_project(make_project(TWO_DAGS, config))
    assert info.value.kind == "config"
    assert "'bb' is not a task of DAG 'first'" in info.value.problems[0]
    assert "a, b" in info.value.problems[0]


def test_duplicate_yaml_key_is_a_config_error(make_project: MakeProject) -> None:
    with pytest.raises(CompileError) as info:
        compile_project(make_project(TWO_DAGS, "dag_id: first\ndag_id: second\n"))
    assert info.value.kind == "config"


def test_source_is_embedded(make_project: MakeProject) -> None:
    project = make_project(TWO_DAGS, "dag_id: first\n")
    assert compile_project(project).spec.source == (project / "dag.py").read_text()
