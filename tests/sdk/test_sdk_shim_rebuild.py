"""The shim's two ways of defining a DAG: checked (compile) and rebuilt (run time).

A runtime re-imports a DAG file the compiler has already checked, only to find its task's
callable and objects again, so the shim skips what only a compile needs there
(``context.rebuilding()``). Covered: a rebuilt DAG has exactly the compiled task ids, edges and
callables; what is skipped (JSON checks, locations) is skipped only when rebuilding; the
facts worked out once per function (signature binding, entrypoints) give the same results as
working them out per task; repeated TaskFlow calls are numbered as Airflow numbers them.

Each case runs in a fresh interpreter: the shim's definition state is per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from leoflow_sdk.compat import FALLBACK_DIR, SHIM_PARENT

from .task_harness import compile_dag, write_project

DAG_FILE = """
from datetime import datetime, timedelta
from airflow.sdk import DAG, TaskGroup, task
from airflow.operators.bash import BashOperator
from airflow.operators.python import PythonOperator

def work(x, *, scale=2):
    return x * scale

with DAG("shapes", start_date=datetime(2024, 1, 1), schedule=None,
         default_args={"retries": 1, "retry_delay": timedelta(seconds=5)}) as dag:
    @task
    def produce(index):
        return index

    @task(multiple_outputs=True)
    def split(value) -> dict:
        return {"a": value}

    @task
    def gather(values, first):
        return values

    made = [produce(i) for i in range(4)]
    taken = produce.override(task_id="produce__5")(9)
    again = produce(7)
    with TaskGroup("grp") as grp:
        bash = BashOperator(task_id="echo", bash_command="echo {{ ds }}")
        python = PythonOperator(task_id="py", python_callable=work, op_kwargs={"x": 3})
        bash >> python
    parts = split(again)
    gather(made, parts["a"]) >> grp
    taken >> grp
"""

PROBE = """
import importlib.util, json, sys
sys.path[:0] = [{project!r}, {shim!r}]
sys.path.append({fallback!r})
context = __import__("airflow._leoflow.context", fromlist=["x"])
if {rebuild!r}:
    context.rebuilding()
spec = importlib.util.spec_from_file_location("dag", {dag_file!r})
module = importlib.util.module_from_spec(spec)
sys.modules["dag"] = module
spec.loader.exec_module(module)
(dag,) = context.created_dags
print(json.dumps({{
    "ids": list(dag.task_dict),
    "upstream": {{k: list(t.upstream) for k, t in dag.task_dict.items()}},
    "downstream": {{k: sorted(t.downstream) for k, t in dag.task_dict.items()}},
    "callables": {{k: f.__name__ for k, f in dag.python_callables.items()}},
    "locations": sorted({{t.location[0] for t in dag.task_dict.values()}}),
    "call_args": {{k: t.bindings.call_args for k, t in dag.task_dict.items()
                   if hasattr(t, "bindings")}},
}}, default=repr))
"""


def _probe(project: Path, *, rebuild: bool) -> dict[str, Any]:
    script = PROBE.format(
        project=str(project),
        shim=str(SHIM_PARENT),
        fallback=str(FALLBACK_DIR),
        rebuild=rebuild,
        dag_file=str(project / "dag.py"),
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_project(tmp_path_factory.mktemp("rebuild") / "project", DAG_FILE)


def test_a_rebuilt_dag_has_the_compiled_ids_edges_and_callables(project: Path) -> None:
    compiled = compile_dag(project)
    checked = _probe(project, rebuild=False)
    rebuilt = _probe(project, rebuild=True)
    assert rebuilt["ids"] == checked["ids"] == [task.task_id for task in compiled.tasks]
    assert rebuilt["upstream"] == checked["upstream"]
    assert rebuilt["upstream"] == {t.task_id: list(t.depends_on) for t in compiled.tasks}
    assert rebuilt["downstream"] == checked["downstream"]
    assert rebuilt["callables"] == checked["callables"]
    assert rebuilt["call_args"] == checked["call_args"]
    # What only a compile needs is skipped when rebuilding: the user's line of each task.
    assert checked["locations"] == [str(project / "dag.py")]
    assert rebuilt["locations"] == ["<rebuilt at run time>"]


def test_repeated_taskflow_calls_are_numbered_as_airflow_does(project: Path) -> None:
    ids = [task.task_id for task in compile_dag(project).tasks]
    # produce, produce__1 … produce__3, then the explicit produce__5, then the next free one.
    expected = ["produce", "produce__1", "produce__2", "produce__3", "produce__5", "produce__4"]
    assert ids[:6] == expected
    assert "grp.echo" in ids and "grp.py" in ids


def test_a_non_json_literal_is_refused_when_checking_only(tmp_path: Path) -> None:
    source = DAG_FILE + "    produce.override(task_id='odd')(object())\n"
    project = write_project(tmp_path / "project", source)
    script_error = _run_expecting_failure(project)
    assert "not a JSON literal" in script_error
    rebuilt = _probe(project, rebuild=True)  # the runtime reads its arguments from the spec
    assert "odd" in rebuilt["ids"]


def _run_expecting_failure(project: Path) -> str:
    script = PROBE.format(
        project=str(project),
        shim=str(SHIM_PARENT),
        fallback=str(FALLBACK_DIR),
        rebuild=False,
        dag_file=str(project / "dag.py"),
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    return done.stderr


BINDING = """
import inspect, json, sys
sys.path[:0] = [{shim!r}]
from airflow._leoflow.function_facts import parameters_of

def plain(a, b=2, *, c=3): ...
def star(a, *rest, **more): ...
def only(a, /, b): ...
def empty(): ...

cases = [
    (plain, (1,), {{}}), (plain, (1, 2), {{"c": 4}}), (plain, (), {{"c": 1, "a": 0}}),
    (plain, (1,), {{"a": 1}}), (plain, (1, 2, 3), {{}}), (plain, (), {{"d": 1}}),
    (star, (1, 2, 3), {{"x": 1}}), (only, (1,), {{"b": 2}}), (only, (), {{"a": 1}}),
    (empty, (), {{}}), (empty, (1,), {{}}),
]
out = []
for function, args, kwargs in cases:
    def outcome(bind):
        try:
            return ["ok", list(bind().items())]
        except TypeError as exc:
            return ["TypeError", str(exc)]
    expected = outcome(lambda: inspect.signature(function).bind_partial(*args, **kwargs).arguments)
    got = outcome(lambda: parameters_of(function).bind(args, kwargs))
    again = outcome(lambda: parameters_of(function).bind(args, kwargs))
    out.append([function.__name__, expected, got, again])
print(json.dumps(out))
"""


def test_binding_once_per_function_matches_bind_partial() -> None:
    script = BINDING.format(shim=str(SHIM_PARENT))
    done = subprocess.run(
        [sys.executable, "-I", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for name, expected, got, again in json.loads(done.stdout):
        assert got == expected == again, name


def test_a_custom_operator_is_refused_at_every_use(tmp_path: Path) -> None:
    source = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.operators.python import PythonOperator

class Mine(PythonOperator):
    def execute(self, context):
        return 1

with DAG("custom", start_date=datetime(2024, 1, 1), schedule=None):
    PythonOperator(task_id="fine", python_callable=print)
    for index in range(2):
        try:
            Mine(task_id=f"mine_{index}", python_callable=print)
        except Exception as exc:
            print(type(exc).__name__, index)
"""
    project = write_project(tmp_path / "project", source)
    script = PROBE.format(
        project=str(project),
        shim=str(SHIM_PARENT),
        fallback=str(FALLBACK_DIR),
        rebuild=False,
        dag_file=str(project / "dag.py"),
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "NotSupportedError 0\nNotSupportedError 1\n" in done.stdout
