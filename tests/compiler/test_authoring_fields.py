"""Airflow constructs that map to dedicated dag.json fields keep their exact meaning.

Each test compiles a small DAG file and checks the recorded fields: keyed XComs and
``multiple_outputs``, ``@task.bash``, BashOperator ``env``/``append_env``/``cwd``/
``skip_on_exit_code``, task documentation, per-task backoff, owners, Params and the module
name of the DAG source.
"""

from __future__ import annotations

import pytest

from leoflow.compiler import CompileError, compile_project
from leoflow.spec import DagSpec, XcomRef

from .conftest import MakeProject

HEAD = """
from collections.abc import Mapping
from datetime import datetime, timedelta
from airflow.sdk import DAG, Param, XComArg, task
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.python import PythonOperator
"""
OPEN = 'with DAG("d", schedule=None, start_date=datetime(2024, 1, 1)):\n'


def _compile(make_project: MakeProject, body: str, config: str | None = None) -> DagSpec:
    return compile_project(make_project(HEAD + body, config)).spec


def _error(make_project: MakeProject, body: str) -> str:
    with pytest.raises(CompileError) as info:
        compile_project(make_project(HEAD + body))
    (problem,) = info.value.problems
    return problem


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        ("", False),
        (" -> dict", True),
        (" -> dict[str, int]", True),
        (" -> Mapping[str, int]", True),
        (" -> list[int]", False),
        (" -> 'NotDefinedAnywhere'", False),
    ],
)
def test_multiple_outputs_is_inferred_from_the_return_annotation(
    make_project: MakeProject, annotation: str, expected: bool
) -> None:
    body = OPEN + f"    @task\n    def f(){annotation}:\n        return {{}}\n    f()\n"
    assert _compile(make_project, body).task("f").multiple_outputs is expected


def test_explicit_multiple_outputs_wins_over_the_annotation(make_project: MakeProject) -> None:
    body = OPEN + (
        "    @task(multiple_outputs=False)\n    def f() -> dict:\n        return {}\n"
        "    @task(multiple_outputs=True)\n    def g():\n        return {}\n"
        "    f()\n    g()\n"
    )
    spec = _compile(make_project, body)
    assert spec.task("f").multiple_outputs is False
    assert spec.task("g").multiple_outputs is True


def test_keyed_results_bind_as_keyed_refs(make_project: MakeProject) -> None:
    body = OPEN + (
        "    @task(multiple_outputs=True)\n    def pair():\n        return {'a': 1, 'b': 2}\n"
        "    @task\n    def use(a, both, whole):\n        return a\n"
        "    p = pair()\n"
        "    use(p['a'], [p['a'], XComArg(p.operator, key='b')], whole=p)\n"
    )
    use = _compile(make_project, body).task("use")
    a, b = XcomRef(task_id="pair", key="a"), XcomRef(task_id="pair", key="b")
    assert use.xcom_input == {"a": (a,), "both": (a, b), "whole": ("pair",)}
    assert use.depends_on == ("pair",)


def test_operator_output_is_the_return_value(make_project: MakeProject) -> None:
    body = (
        "def make():\n    return 1\n"
        + OPEN
        + (
            "    op = PythonOperator(task_id='make', python_callable=make)\n"
            "    @task\n    def use(x):\n        return x\n"
            "    use(op.output)\n"
        )
    )
    assert _compile(make_project, body).task("use").xcom_input == {"x": ("make",)}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            "def make():\n    return {}\n"
            + OPEN
            + "    op = PythonOperator(task_id='make', python_callable=make)\n"
            "    @task\n    def use(x):\n        return x\n    use(op.output['k'])\n",
            "not supported by Leoflow yet: reading XCom key 'k' of task 'make', which pushes no "
            "keyed XComs",
        ),
        (
            OPEN + "    @task(multiple_outputs=True)\n    def f():\n        return {}\n"
            "    @task\n    def use(x):\n        return x\n    use(f()['a']['b'])\n",
            "not supported by Leoflow yet: a key of a keyed task result (f['a']['b'])",
        ),
        (
            OPEN + "    @task\n    def f():\n        return 1\n"
            "    BashOperator(task_id='b', bash_command=f'echo {f()}')\n",
            "not supported by Leoflow yet: a task result used as text",
        ),
        (
            OPEN + "    @task\n    def f():\n        return 1\n    f()[0]\n",
            "XCom key 0 of task 'f' is not a string",
        ),
        (
            OPEN + "    BashOperator(task_id='b', bash_command='true', "
            "retry_exponential_backoff=2.0)\n",
            "retry_exponential_backoff of task 'b' is 2.0",
        ),
        (
            OPEN + "    BashOperator(task_id='b', bash_command='true', skip_on_exit_code=300)\n",
            "skip_on_exit_code of task 'b' is 300",
        ),
        (
            OPEN + "    BashOperator(task_id='b', bash_command='true', cwd='')\n",
            "cwd of task 'b' is ''",
        ),
    ],
    ids=["operator-key", "nested-key", "result-as-text", "int-key", "backoff", "exit", "cwd"],
)
def test_refused_uses(make_project: MakeProject, body: str, fragment: str) -> None:
    assert fragment in _error(make_project, body)


def test_bash_operator_environment_and_folder(make_project: MakeProject) -> None:
    body = OPEN + (
        "    BashOperator(task_id='inherit', bash_command='env')\n"
        "    BashOperator(task_id='only', bash_command='env', env={'A': '1'})\n"
        "    BashOperator(task_id='empty', bash_command='env', env={})\n"
        "    BashOperator(task_id='add', bash_command='env', env={'A': '1'}, append_env=True,\n"
        "                 cwd='/srv/data')\n"
    )
    spec = _compile(make_project, body)
    assert (spec.task("inherit").env, spec.task("inherit").append_env) == ({}, True)
    assert (spec.task("only").env, spec.task("only").append_env) == ({"A": "1"}, False)
    assert (spec.task("empty").env, spec.task("empty").append_env) == ({}, False)
    add = spec.task("add")
    assert (add.env, add.append_env, add.cwd) == ({"A": "1"}, True, "/srv/data")
    assert add.entrypoint == "env"


@pytest.mark.parametrize(
    ("argument", "recorded", "effective"),
    [("", None, (99,)), ("99", None, (99,)), ("None", (), ()), ("[0, 3, 3]", (0, 3), (0, 3))],
)
def test_skip_on_exit_code(
    make_project: MakeProject,
    argument: str,
    recorded: tuple[int, ...] | None,
    effective: tuple[int, ...],
) -> None:
    extra = f", skip_on_exit_code={argument}" if argument else ""
    body = OPEN + f"    BashOperator(task_id='b', bash_command='true'{extra})\n"
    task = _compile(make_project, body).task("b")
    assert task.skip_on_exit_code == recorded
    assert task.effective_skip_on_exit_code == effective


def test_task_bash_records_the_command_callable(make_project: MakeProject) -> None:
    body = OPEN + (
        "    @task(multiple_outputs=True)\n    def conf():\n        return {'n': 3}\n"
        "    @task.bash(multiple_outputs=True, env={'X': '1'})\n"
        "    def run(n, flag='-v'):\n        return f'echo {flag} {n}'\n"
        "    run(conf()['n'])\n"
    )
    task = _compile(make_project, body).task("run")
    assert task.type == "bash"
    assert task.entrypoint is None
    assert task.command_callable == "dag:run"
    assert task.xcom_input == {"n": (XcomRef(task_id="conf", key="n"),)}
    assert task.multiple_outputs is False
    assert (task.env, task.append_env) == ({"X": "1"}, False)


def test_task_documentation_and_backoff(make_project: MakeProject) -> None:
    body = OPEN.replace("):", ", default_args={'retry_exponential_backoff': True}):") + (
        "    BashOperator(task_id='a', bash_command='true', doc_md='**A**', doc_yaml='k: v')\n"
        "    BashOperator(task_id='b', bash_command='true', retry_exponential_backoff=False)\n"
        "    @task\n    def c():\n        '''Docstring of c.'''\n    c()\n"
    )
    spec = _compile(make_project, body)
    assert spec.default_args.retry_exponential_backoff is True
    assert spec.task("a").doc_md == "**A**\n\n```yaml\nk: v\n```"
    assert spec.task("a").retry_exponential_backoff is None
    assert spec.task("b").retry_exponential_backoff is False
    assert spec.task("c").doc_md == "Docstring of c."


def test_owner_of_one_task_is_kept(make_project: MakeProject) -> None:
    body = OPEN.replace("):", ", default_args={'owner': 'ops'}):") + (
        "    BashOperator(task_id='a', bash_command='true')\n"
    )
    assert _compile(make_project, body).owner == "ops"
    body += "    BashOperator(task_id='b', bash_command='true', owner='alice')\n"
    assert _compile(make_project, body).owner == "alice, ops"


def test_params_and_their_schemas(make_project: MakeProject) -> None:
    body = (
        OPEN.replace(
            "):",
            ", params={'n': Param(5, type='integer', minimum=1), 'who': Param(type='string'),"
            " 'plain': [1]}):",
        )
        + "    BashOperator(task_id='a', bash_command='true')\n"
    )
    spec = _compile(make_project, body)
    assert spec.params == {"n": 5, "plain": [1]}
    assert spec.params_schema == {"n": {"type": "integer", "minimum": 1}, "who": {"type": "string"}}


def test_required_param_on_a_scheduled_dag_is_refused(make_project: MakeProject) -> None:
    body = (
        "with DAG('d', schedule='@daily', start_date=datetime(2024, 1, 1),"
        " params={'who': Param(type='string')}):\n"
        "    BashOperator(task_id='a', bash_command='true')\n"
    )
    with pytest.raises(CompileError) as info:
        compile_project(make_project(HEAD + body))
    assert info.value.kind == "spec"
    assert "param 'who' has no default" in info.value.problems[0]


def test_source_module_is_the_dag_file_stem(make_project: MakeProject) -> None:
    body = OPEN + "    BashOperator(task_id='a', bash_command='true')\n"
    project = make_project(HEAD + body, name="my-etl.py")
    assert compile_project(project / "my-etl.py").spec.source_module == "my_etl"


def test_leoflow_yaml_sets_backoff_as_default_and_per_task(make_project: MakeProject) -> None:
    body = OPEN + (
        "    BashOperator(task_id='a', bash_command='true')\n"
        "    BashOperator(task_id='b', bash_command='true', retry_exponential_backoff=True)\n"
    )
    config = (
        "dag_id: d\ndefaults:\n  retry_exponential_backoff: true\n"
        "tasks:\n  b:\n    retry_exponential_backoff: false\n"
    )
    spec = _compile(make_project, body, config)
    assert spec.default_args.retry_exponential_backoff is True
    assert spec.task("a").retry_exponential_backoff is None
    assert spec.task("b").retry_exponential_backoff is False


def test_declarative_dag_has_no_source_module(make_project: MakeProject) -> None:
    dag_yaml = """
        dag_id: y
        tasks:
          - task_id: split
            type: python
            entrypoint: "steps:split"
            multiple_outputs: true
          - task_id: show
            type: bash
            command_callable: "steps:show"
            depends_on: [split]
            xcom_input: {head: [{task_id: split, key: head}]}
    """
    spec = compile_project(make_project(dag_yaml, name="dag.yaml")).spec
    assert spec.source_module is None
    assert spec.task("show").xcom_input == {"head": (XcomRef(task_id="split", key="head"),)}
