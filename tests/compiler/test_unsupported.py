"""Unsupported Airflow constructs fail with the exact message, at the user's file and line."""

from __future__ import annotations

import pytest

from leoflow.compiler import CompileError, compile_project

from .conftest import MakeProject

HEADER = "from datetime import datetime\nfrom airflow.sdk import DAG, dag, task\n"
OPEN = 'with DAG("d", schedule=None, start_date=datetime(2024, 1, 1)):\n'

CASES = [
    (
        "from airflow.sensors.filesystem import FileSensor\n",
        3,
        "sensors",
    ),
    (
        "from airflow.providers.standard.operators.python import BranchPythonOperator\n",
        3,
        "branching (BranchPythonOperator)",
    ),
    (
        "from airflow.operators.python import ShortCircuitOperator\n",
        3,
        "short-circuiting (ShortCircuitOperator)",
    ),
    (
        "from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator\n",
        3,
        "KubernetesPodOperator and the cncf.kubernetes provider",
    ),
    (
        "from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator\n",
        3,
        "airflow.providers.amazon (provider package apache-airflow-providers-amazon)",
    ),
    ("from airflow.sdk import Asset\n", 3, "asset/dataset schedules (Asset)"),
    ("from airflow.datasets import Dataset\n", 3, "asset/dataset schedules (airflow.datasets)"),
    (
        "from airflow.operators.trigger_dagrun import TriggerDagRunOperator\n",
        3,
        "TriggerDagRunOperator",
    ),
    (
        OPEN + "    @task.branch\n    def pick():\n        return 'a'\n",
        4,
        "@task.branch (branching)",
    ),
    (
        OPEN + "    @task.sensor(poke_interval=5)\n    def wait():\n        return True\n",
        4,
        "@task.sensor (sensors)",
    ),
    (
        'with DAG("d", schedule="@continuous", start_date=datetime(2024, 1, 1)):\n    pass\n',
        3,
        "the @continuous schedule",
    ),
    (
        OPEN + "    from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "    EmptyOperator(task_id='x', trigger_rule='one_done')\n",
        5,
        "trigger_rule 'one_done'",
    ),
    (
        OPEN + "    from airflow.providers.http.operators.http import HttpOperator\n"
        "    HttpOperator(task_id='h', endpoint='https://x.example', deferrable=True)\n",
        5,
        "deferrable operators (HttpOperator deferrable=True)",
    ),
    (
        OPEN + "    from airflow.providers.standard.operators.bash import BashOperator\n"
        "    BashOperator(task_id='b', bash_command='true', depends_on_past=True)\n",
        5,
        "depends_on_past=True",
    ),
    (
        'with DAG("d", schedule=None, start_date=datetime(2024, 1, 1), '
        "dagrun_timeout=5):\n    pass\n",
        3,
        "DAG argument dagrun_timeout",
    ),
    (
        "from airflow.sdk import BaseOperator\n"
        "class Mine(BaseOperator):\n    def execute(self, context):\n        return 1\n"
        + OPEN
        + "    Mine(task_id='m')\n",
        8,
        "custom operator Mine (subclass of BaseOperator)",
    ),
]


@pytest.mark.parametrize(("body", "line", "what"), CASES, ids=[c[2] for c in CASES])
def test_unsupported_construct(make_project: MakeProject, body: str, line: int, what: str) -> None:
    project = make_project(HEADER + body)
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.kind == "dag"
    assert info.value.problems == [
        f"not supported by Leoflow yet: {what}, at {project / 'dag.py'}:{line}"
    ]


MAPPING = "create one task per item in a Python loop over a literal list"


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            OPEN + "    @task\n    def f(x):\n        return x\n    f.expand(x=[1, 2])\n",
            7,
            f"not supported by Leoflow yet: dynamic task mapping (.expand()), at {{path}}:7. "
            f"Fix: {MAPPING}",
        ),
        (
            OPEN + "    @task\n    def f(x, y):\n        return x\n    f.partial(y=1)\n",
            7,
            f"not supported by Leoflow yet: dynamic task mapping (.partial()), at {{path}}:7. "
            f"Fix: {MAPPING}",
        ),
        (
            OPEN + "    @task\n    def a():\n        return {}\n"
            "    @task\n    def b(x):\n        return x\n    b(a()['k'])\n",
            10,
            "not supported by Leoflow yet: reading XCom key 'k' of task 'a', which pushes no "
            "keyed XComs (it does not set multiple_outputs=True), at {path}:10. Fix: add "
            "multiple_outputs=True to the upstream @task (and return a dict), or pass the whole "
            "result and read the key inside the downstream task",
        ),
        (
            OPEN + "    @task\n    def a():\n        return 1\n"
            "    @task\n    def b(xs):\n        return xs\n    b([a(), 2])\n",
            10,
            "parameter 'xs' of task 'b' gets a list mixing task results and literals, at "
            "{path}:10. Fix: pass a list made only of task results (fan-in) and give the "
            "literals as another parameter",
        ),
        (
            OPEN
            + "    @task\n    def b(when):\n        return when\n    b(datetime(2024, 1, 1))\n",
            7,
            "argument 'when' of task 'b' is a datetime (2024-01-01 00:00:00), which is not a "
            "JSON literal, at {path}:7. Fix: pass JSON values only (str, int, float, bool, "
            "None, list, dict) and convert the rest inside the task",
        ),
    ],
    ids=["expand", "partial", "key-without-multiple-outputs", "mixed-list", "non-json"],
)
def test_compile_errors_name_line_and_fix(
    make_project: MakeProject, body: str, line: int, message: str
) -> None:
    project = make_project(HEADER + body)
    with pytest.raises(CompileError) as info:
        compile_project(project)
    assert info.value.problems == [message.format(path=project / "dag.py")]
