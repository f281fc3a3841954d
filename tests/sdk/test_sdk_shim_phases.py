"""One shim for both phases (ADR 0025): the run-time names import at compile time, and using
them while the DAG is being defined is a compile error at the user's line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from leoflow.compiler import CompileError, compile_project

from .task_harness import compile_dag, run_runtime, write_project

IMPORTS = """
from datetime import datetime
from airflow.sdk import DAG, BaseHook, Connection, Variable, get_current_context, task
from airflow.models import Variable as ModelsVariable, Connection as ModelsConnection
from airflow.models.variable import Variable as V2
from airflow.models.connection import Connection as C2
from airflow.hooks.base import BaseHook as Hook2
from airflow.sdk.bases.hook import BaseHook as Hook3
from airflow.operators.python import get_current_context as gcc2
from airflow.providers.standard.operators.python import get_current_context as gcc3
from airflow.utils.context import Context
from airflow.macros import ds_add
from airflow.exceptions import AirflowNotFoundException

with DAG("phases", schedule=None, start_date=datetime(2024, 1, 1)):
    @task
    def use_them() -> None:
        context = gcc3()
        assert context is gcc2() is get_current_context()
        assert V2 is ModelsVariable is Variable and C2 is ModelsConnection is Connection
        assert Hook2 is Hook3 is BaseHook
        return [Variable.get("region"), ds_add(context["ds"], 1)]

    use_them()
"""


def test_run_time_names_import_at_compile_time_and_work_at_run_time(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", IMPORTS)
    dag = compile_dag(project)
    run = run_runtime(dag, "use_them", project, tmp_path / "work", variables={"region": "eu"})
    assert run.returncode == 0, run.output
    assert run.return_value == ["eu", "2024-03-06"]


@pytest.mark.parametrize(
    ("statement", "what"),
    [
        ('Variable.get("region")', "Variable.get at DAG definition time (top-level code)"),
        (
            'BaseHook.get_connection("db")',
            "Connection.get('db') at DAG definition time (top-level code)",
        ),
        ("get_current_context()", "get_current_context() at DAG definition time"),
    ],
)
def test_run_time_calls_at_definition_time_are_compile_errors(
    tmp_path: Path, statement: str, what: str
) -> None:
    source = textwrap.dedent(
        f"""
        from datetime import datetime
        from airflow.sdk import DAG, BaseHook, Variable, get_current_context, task

        VALUE = {statement}
        """
    )
    project = write_project(tmp_path / "project", source)
    with pytest.raises(CompileError) as excinfo:
        compile_project(project)
    message = str(excinfo.value)
    assert f"not supported by Leoflow yet: {what}, at " in message
    assert "dag.py:5" in message
    assert "Fix:" in message


def test_writing_a_variable_from_a_task_is_refused(tmp_path: Path) -> None:
    project = write_project(
        tmp_path / "project",
        """
        from datetime import datetime
        from airflow.sdk import DAG, Variable, task

        with DAG("writes", schedule=None, start_date=datetime(2024, 1, 1)):
            @task
            def write():
                Variable.set("k", "v")

            write()
        """,
    )
    run = run_runtime(compile_dag(project), "write", project, tmp_path / "work")
    assert run.returncode == 1
    assert run.outcome is not None
    assert "Variable.set (writing a variable from a task)" in run.outcome["error"]
