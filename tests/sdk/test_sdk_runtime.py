"""The task runtime as a real process: binding, context, outputs, templates, the shim's
run-time surface. Each test compiles a real DAG and runs ``python -m leoflow_sdk.runtime``
with the work folder and environment the agent would prepare (no agent, no server)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from leoflow.spec.dag_spec import DagSpec

from .task_harness import compile_dag, run_runtime, write_project

SECRET = "s3cr3t-sentinel-value-9d41"

ETL = """
from datetime import datetime
from airflow.sdk import dag, task, get_current_context
from airflow.exceptions import AirflowSkipException

@dag(schedule="@daily", start_date=datetime(2024, 1, 1), params={"x": 7, "region": "eu"})
def etl():
    @task
    def extract():
        return {"a": 1, "b": 2}

    @task
    def transform(rows, factor):
        return {k: v * factor for k, v in rows.items()}

    @task
    def part(n):
        return n

    @task
    def reduce(values):
        return values

    @task
    def with_context(rows, ti=None, ds=None, ts=None, logical_date=None, params=None,
                     dag_run=None, run_id=None, task=None, dag=None):
        current = get_current_context()
        return {
            "ti": [ti.dag_id, ti.task_id, ti.run_id, ti.try_number, ti.map_index],
            "ds": ds, "ts": ts, "logical_date": logical_date.isoformat(),
            "params": params, "conf": dag_run.conf, "run_id": run_id,
            "task": task.task_id, "dag": dag.dag_id, "same": current["ti"] is ti,
            "pulled": ti.xcom_pull(task_ids="extract"),
            "interval": [dag_run.data_interval_start.isoformat(),
                         dag_run.data_interval_end.isoformat()],
        }

    @task
    def everything(**context):
        return sorted(k for k in context if k in {"ti", "ds", "params", "dag_run", "macros"})

    @task(multiple_outputs=True)
    def not_a_dict():
        return [1, 2]

    @task
    def not_json():
        return {"when": datetime(2024, 1, 1)}

    @task
    def skipper():
        raise AirflowSkipException("nothing to do today")

    @task
    def broken():
        raise ValueError("boom in the task")

    @task
    def pusher(ti=None):
        ti.xcom_push(key="extra", value={"k": [1, 2]})
        return ti.xcom_pull(task_ids="pusher", key="extra")

    @task
    def pull_unbound(ti=None):
        return ti.xcom_pull(task_ids="extract")

    @task
    def templated(day, when):
        return [day, when]

    rows = extract()
    transform(rows, factor=3)
    reduce([part.override(task_id=f"p{i}")(i) for i in range(5)])
    with_context(rows)
    everything()
    not_a_dict()
    not_json()
    skipper()
    broken()
    pusher()
    pull_unbound()
    templated("{{ ds }}", when="{{ macros.ds_add(ds, 1) }}/{{ params.region }}")

etl()
"""


@pytest.fixture(scope="module")
def etl(tmp_path_factory: pytest.TempPathFactory) -> tuple[DagSpec, Path, Path]:
    root = tmp_path_factory.mktemp("etl")
    project = write_project(root / "project", ETL)
    return compile_dag(project), project, root / "work"


def _run(etl: tuple[DagSpec, Path, Path], task_id: str, **options: Any) -> Any:
    dag, project, work = etl
    return run_runtime(dag, task_id, project, work, **options)


def test_literal_and_xcom_arguments_are_bound_by_name(etl: Any) -> None:
    run = _run(etl, "transform", xcoms={("extract", "return_value"): {"a": 1, "b": 2}})
    assert run.returncode == 0, run.output
    assert run.outcome == {
        "state": "success",
        "error": None,
        "retryable": True,
        "optional_return_value": False,
    }
    assert run.return_value == {"a": 3, "b": 6}
    assert "[leoflow] input 'rows': dict (13 B XCom) from extract" in run.stderr
    assert "[leoflow] returned dict (13 B XCom)" in run.stderr


def test_fan_in_arrives_in_declaration_order_with_missing_as_null(etl: Any) -> None:
    xcoms = {("p0", "return_value"): 0, ("p1", "return_value"): 10, ("p3", "return_value"): 30}
    xcoms[("p4", "return_value")] = 40
    run = _run(etl, "reduce", xcoms=xcoms)
    assert run.returncode == 0, run.output
    assert run.return_value == [0, 10, None, 30, 40]
    assert "fan-in list (17 B XCom) from p0, p1, p2, p3, p4" in run.stderr


def test_context_is_injected_by_parameter_name(etl: Any) -> None:
    run = _run(
        etl,
        "with_context",
        xcoms={("extract", "return_value"): {"a": 1}},
        params={"x": 8},
        conf={"who": "me"},
    )
    assert run.returncode == 0, run.output
    value = run.return_value
    assert value["ti"] == ["etl", "with_context", "scheduled__2024-03-05T06:00:00+00:00", 1, -1]
    assert value["ds"] == "2024-03-05"
    assert value["ts"] == "2024-03-05T06:00:00+00:00"
    assert value["logical_date"] == "2024-03-05T06:00:00+00:00"
    assert value["params"] == {"x": 8, "region": "eu"}
    assert value["conf"] == {"who": "me"}
    assert value["run_id"] == "scheduled__2024-03-05T06:00:00+00:00"
    assert (value["task"], value["dag"], value["same"]) == ("with_context", "etl", True)
    assert value["pulled"] == {"a": 1}
    assert value["interval"] == ["2024-03-05T06:00:00+00:00", "2024-03-06T06:00:00+00:00"]


def test_var_keyword_parameter_receives_the_whole_context(etl: Any) -> None:
    run = _run(etl, "everything")
    assert run.return_value == ["dag_run", "ds", "macros", "params", "ti"]


def test_templated_call_arguments_are_rendered(etl: Any) -> None:
    run = _run(etl, "templated")
    assert run.returncode == 0, run.output
    assert run.return_value == ["2024-03-05", "2024-03-06/eu"]


def test_multiple_outputs_requires_a_dict(etl: Any) -> None:
    run = _run(etl, "not_a_dict")
    assert run.returncode == 1
    assert run.outcome is not None and run.outcome["state"] == "failed"
    assert "multiple_outputs=True, so it must return a dict" in run.outcome["error"]
    assert "returned a list" in run.outcome["error"]
    assert not run.has_return_value


def test_non_json_return_value_fails_with_a_clear_message(etl: Any) -> None:
    run = _run(etl, "not_json")
    assert run.returncode == 1
    assert run.outcome is not None
    error = run.outcome["error"]
    assert "the return value of task 'not_json' is not JSON-serializable" in error
    assert "datetime.datetime at ['when']" in error
    assert ".isoformat()" in error
    assert "NotJsonSerializable" in run.stderr  # the traceback is in the log


def test_skip_exception_ends_skipped(etl: Any) -> None:
    run = _run(etl, "skipper")
    assert run.returncode == 0
    assert run.outcome == {
        "state": "skipped",
        "error": "nothing to do today",
        "retryable": True,
        "optional_return_value": False,
    }


def test_exception_fails_with_summary_and_user_traceback(etl: Any) -> None:
    run = _run(etl, "broken")
    assert run.returncode == 1
    assert run.outcome is not None
    assert run.outcome["error"] == "ValueError: boom in the task"
    assert "line" in run.stderr and "in broken" in run.stderr
    assert "leoflow_sdk/runtime" not in run.stderr  # the runtime's own frames are hidden


def test_xcom_push_goes_to_files_and_pulls_back_in_the_same_try(etl: Any) -> None:
    run = _run(etl, "pusher")
    assert run.returncode == 0, run.output
    assert run.pushed == [("extra", {"k": [1, 2]})]
    assert run.return_value == {"k": [1, 2]}
    assert "[leoflow] pushed XCom 'extra': dict (11 B XCom)" in run.stderr


def test_xcom_pull_of_an_unbound_upstream_is_refused_by_name(etl: Any) -> None:
    run = _run(etl, "pull_unbound")
    assert run.returncode == 1
    assert run.outcome is not None
    assert "ti.xcom_pull(extract)" in run.outcome["error"]
    assert "pass the upstream result as an argument" in run.outcome["error"]


def test_values_are_never_logged(etl: Any) -> None:
    """Inputs, variables and return values are described by type and size only (ADR 0022)."""
    run = _run(
        etl,
        "transform",
        xcoms={("extract", "return_value"): {"a": SECRET}},
        variables={"api_key": SECRET},
    )
    assert run.returncode == 0, run.output
    assert run.return_value == {"a": SECRET * 3}
    run_fan_in = _run(etl, "reduce", xcoms={("p0", "return_value"): {"token": SECRET}})
    assert run_fan_in.return_value[0] == {"token": SECRET}
    for output in (run.output, run_fan_in.output):
        assert "[leoflow] returned" in output
        assert SECRET not in output


OPERATORS = """
from datetime import datetime
from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator
from airflow.operators.bash import BashOperator
from airflow.hooks.base import BaseHook
from airflow.models import Variable
from airflow.exceptions import AirflowNotFoundException


def produce():
    return {"n": 3}


def consume(payload, scale=1, *, label="x", ti=None):
    return {"value": payload["n"] * scale, "label": label, "task": ti.task_id}


def secrets():
    conn = BaseHook.get_connection("warehouse")
    try:
        BaseHook.get_connection("missing")
    except AirflowNotFoundException as exc:
        missing = str(exc)
    try:
        Variable.get("nope")
    except KeyError as exc:
        missing_var = str(exc)
    return {
        "plain": Variable.get("plain"),
        "json": Variable.get("config", deserialize_json=True),
        "default": Variable.get("nope", default_var="fallback"),
        "missing_var": missing_var,
        "conn": [conn.conn_type, conn.host, conn.port, conn.schema, conn.login,
                 conn.password == "p@ss/word", conn.extra_dejson],
        "missing": missing,
    }


with DAG("operators", schedule=None, start_date=datetime(2024, 1, 1), params={"x": 5}) as dag:
    producer = PythonOperator(task_id="produce", python_callable=produce)
    PythonOperator(
        task_id="consume",
        python_callable=consume,
        op_args=[producer.output],
        op_kwargs={"scale": 2, "label": "{{ ds_nodash }}"},
    )
    PythonOperator(task_id="secrets", python_callable=secrets)
    BashOperator(
        task_id="templated", bash_command="echo {{ ds }} {{ params.x }} {{ task.task_id }}"
    )
    BashOperator(task_id="skip", bash_command="echo going; exit 99")
    BashOperator(
        task_id="env_cwd",
        bash_command='echo "$GREETING|$HOME|$LEOFLOW_TASK_ID|$AIRFLOW_CTX_DAG_ID|$(pwd)"',
        env={"GREETING": "hi {{ params.x }}"},
        append_env=False,
        cwd="{{ params.folder }}",
    )
"""


@pytest.fixture(scope="module")
def operators(tmp_path_factory: pytest.TempPathFactory) -> tuple[DagSpec, Path, Path]:
    root = tmp_path_factory.mktemp("operators")
    project = write_project(root / "project", OPERATORS)
    (project / "sub").mkdir()
    return compile_dag(project), project, root / "work"


def test_python_operator_gets_op_args_op_kwargs_and_context(operators: Any) -> None:
    run = _run(operators, "consume", xcoms={("produce", "return_value"): {"n": 3}})
    assert run.returncode == 0, run.output
    assert run.return_value == {"value": 6, "label": "20240305", "task": "consume"}


def test_variables_and_connections_resolve_from_the_environment(operators: Any) -> None:
    uri = (
        "postgres://etl%40corp:p%40ss%2Fword@db.internal:5432/analytics"
        "?__extra__=%7B%22sslmode%22%3A+%22require%22%2C+%22timeout%22%3A+5%7D"
    )
    run = _run(
        operators,
        "secrets",
        variables={"plain": "text value", "config": '{"a": [1, 2]}'},
        connections={"warehouse": uri},
    )
    assert run.returncode == 0, run.output
    value = run.return_value
    assert value["plain"] == "text value"
    assert value["json"] == {"a": [1, 2]}
    assert value["default"] == "fallback"
    assert value["missing_var"] == "Variable nope does not exist"
    assert value["conn"] == [
        "postgres",
        "db.internal",
        5432,
        "analytics",
        "etl@corp",
        True,
        {"sslmode": "require", "timeout": 5},
    ]
    assert value["missing"] == "The conn_id `missing` isn't defined"
    assert "p@ss/word" not in run.output


def test_bash_command_renders_ds_params_and_task(operators: Any) -> None:
    run = _run(operators, "templated", params={"x": 42})
    assert run.returncode == 0, run.output
    assert run.stdout.strip() == "2024-03-05 42 templated"
    assert run.outcome is None  # bash became the process; the agent reads its exit code


def test_bash_exit_code_is_the_process_exit_code(operators: Any) -> None:
    run = _run(operators, "skip")
    assert run.returncode == 99
    assert run.stdout == "going\n"


def test_bash_env_and_cwd_are_templates_and_append_env_false_isolates(
    operators: Any, tmp_path: Path
) -> None:
    run = _run(
        operators,
        "env_cwd",
        params={"x": 1, "folder": "sub"},
        extra_env={"HOME": "/home/someone"},
    )
    assert run.returncode == 0, run.output
    greeting, home, task_id, ctx_dag, cwd = run.stdout.strip().split("|")
    assert greeting == "hi 1"
    assert home == ""  # append_env=False: nothing inherited
    assert task_id == "env_cwd"  # but Leoflow's own variables are there
    assert ctx_dag == "operators"
    assert cwd.endswith("/project/sub")


def test_bash_cwd_that_does_not_exist_fails_clearly(operators: Any) -> None:
    run = _run(operators, "env_cwd", params={"x": 1, "folder": "nowhere"})
    assert run.returncode == 1
    assert run.outcome is not None
    assert "cwd of task 'env_cwd' is not a folder: 'nowhere'" in run.outcome["error"]


def test_a_run_without_logical_date_explains_an_undefined_ds(operators: Any) -> None:
    run = _run(operators, "templated", logical_date=None)
    assert run.returncode == 1
    assert run.outcome is not None
    assert "'ds' is undefined" in run.outcome["error"]
    assert "this run has no logical date" in run.outcome["error"]


BASH_DECORATOR = """
from datetime import datetime
from airflow.sdk import dag, task

@dag(schedule=None, start_date=datetime(2024, 1, 1))
def bashy():
    @task
    def name():
        return "world"

    @task.bash
    def greet(who, times):
        print("computing the command")
        return "for i in $(seq " + str(times) + "); do echo hello " + who + " {{ ds }}; done"

    greet(name(), times=2)

bashy()
"""


def test_task_bash_function_output_does_not_become_the_last_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", BASH_DECORATOR)
    dag = compile_dag(project)
    run = run_runtime(
        dag, "greet", project, tmp_path / "work", xcoms={("name", "return_value"): "world"}
    )
    assert run.returncode == 0, run.output
    assert run.stdout.splitlines() == ["hello world 2024-03-05", "hello world 2024-03-05"]
    assert "computing the command" in run.stderr


def test_dag_module_comes_from_the_recorded_source(tmp_path: Path) -> None:
    """Two DAG files with the same name: each try runs its own recorded source, never a
    ``dag`` module found on the path (lessons: never a shared module name)."""
    source = """
    from datetime import datetime
    from airflow.sdk import dag, task

    @dag(schedule=None, start_date=datetime(2024, 1, 1), dag_id="{dag_id}")
    def build():
        @task
        def which():
            return "{dag_id}"
        which()

    build()
    """
    first = write_project(tmp_path / "one", source.replace("{dag_id}", "first"))
    second = write_project(tmp_path / "two", source.replace("{dag_id}", "second"))
    first_dag, second_dag = compile_dag(first), compile_dag(second)
    # The project folder now holds an edited file; the run uses what was compiled.
    (first / "dag.py").write_text("raise RuntimeError('edited after compile')\n")
    runs = [
        run_runtime(first_dag, "which", second, tmp_path / "work"),
        run_runtime(second_dag, "which", first, tmp_path / "work"),
    ]
    assert [run.return_value for run in runs] == ["first", "second"]


def test_image_mode_imports_the_dag_module_from_the_dag_folder(tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", ETL)
    dag = compile_dag(project)
    run = run_runtime(
        dag,
        "transform",
        project,
        tmp_path / "work",
        include_source=False,
        xcoms={("extract", "return_value"): {"a": 2}},
    )
    assert run.returncode == 0, run.output
    assert run.return_value == {"a": 6}


def test_large_xcom_input_travels_as_a_file(etl: Any) -> None:
    big = {"blob": "x" * 200_000}
    run = _run(etl, "transform", xcoms={("extract", "return_value"): big})
    assert run.returncode == 0, run.output
    assert run.return_value == {"blob": "x" * 600_000}


def test_runtime_started_by_hand_says_how_it_is_meant_to_start() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "leoflow_sdk.runtime"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert "LEOFLOW_TASK_SPEC_PATH is not set" in done.stderr


def test_outcome_and_return_value_files_are_json(etl: Any) -> None:
    run = _run(etl, "extract")
    assert run.returncode == 0
    assert json.dumps(run.return_value) == '{"a": 1, "b": 2}'


class _Recorder(http.server.BaseHTTPRequestHandler):
    """A real local HTTP endpoint for ``http_api`` tasks run in their own process."""

    seen: ClassVar[list[tuple[str, str, str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.seen.append((self.command, self.path, body, self.headers.get("X-Run", "")))
        status = 500 if self.path == "/broken" else 201
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"created")

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def http_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_task_in_its_own_process_sends_the_rendered_request(
    tmp_path: Path, http_endpoint: str
) -> None:
    project = write_project(
        tmp_path / "project",
        f"""
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow.providers.http.operators.http import HttpOperator

        with DAG("calls", schedule=None, start_date=datetime(2024, 1, 1)):
            HttpOperator(
                task_id="ok",
                endpoint="{http_endpoint}/items?day={{{{ ds }}}}",
                data='{{"day": "{{{{ ds }}}}"}}',
                headers={{"X-Run": "{{{{ run_id }}}}"}},
            )
            HttpOperator(task_id="broken", endpoint="{http_endpoint}/broken")
        """,
    )
    dag = compile_dag(project)
    run = run_runtime(dag, "ok", project, tmp_path / "work")
    assert run.returncode == 0, run.output
    assert run.return_value == "created"
    assert run.outcome is not None and run.outcome["optional_return_value"] is True
    assert _Recorder.seen[-1] == (
        "POST",
        "/items?day=2024-03-05",
        '{"day": "2024-03-05"}',
        "scheduled__2024-03-05T06:00:00+00:00",
    )
    assert "day=2024" not in run.output  # the query string is not logged
    broken = run_runtime(dag, "broken", project, tmp_path / "work")
    assert broken.returncode == 1
    assert broken.outcome is not None
    assert broken.outcome["error"].endswith("/broken answered 500, expected 2xx")
