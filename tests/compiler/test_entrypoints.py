"""Recorded callables resolve again when the DAG module is rebuilt from its recorded source.

The runtime executes ``source`` as the module ``source_module`` (the DAG file stem), then
resolves ``entrypoint`` (python) and ``command_callable`` (``@task.bash``), as this test does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from leoflow.compiler import compile_project

from .conftest import DAGS

RESOLVE = textwrap.dedent(
    """
    import importlib.util, json, sys
    from leoflow_sdk.compat import FALLBACK_DIR, shim_sys_path
    from pathlib import Path
    spec = json.loads(sys.stdin.read())
    folder = Path(sys.argv[1])
    sys.path[:0] = shim_sys_path(folder)
    sys.path.append(str(FALLBACK_DIR))
    module_name = sys.argv[2]
    loader = importlib.util.spec_from_loader(module_name, loader=None)
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    exec(compile(spec["source"], str(folder / "recorded.py"), "exec"), module.__dict__)
    from airflow._leoflow.runtime_lookup import resolve_python_callable
    out = {}
    for task in spec["tasks"]:
        target = task.get("entrypoint") if task["type"] == "python" else None
        target = target or task.get("command_callable")
        if target and not task["xcom_input"]:
            fn = resolve_python_callable(target, spec["dag_id"], task["task_id"])
            out[task["task_id"]] = fn(**task.get("call_args", {}))
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize(
    ("dag", "expected"),
    [
        ("lambda_and_inner", {"quick": "hi", "inner_x": "x"}),
        ("sibling_module", {"transform": 4}),
        ("taskflow_etl", {"extract": {"a": 1, "b": 2}}),
        ("bash_decorator", {"greet": "echo hello from leoflow", "sized__1": "head -c 64 x"}),
    ],
)
def test_entrypoint_resolves_from_recorded_source(dag: str, expected: dict[str, object]) -> None:
    spec = compile_project(DAGS / f"{dag}.py").spec
    assert spec.source_module == dag
    done = subprocess.run(
        [sys.executable, "-I", "-c", RESOLVE, str(DAGS), spec.source_module],
        input=json.dumps(spec.model_dump(mode="json")),
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {k: v for k, v in result.items() if k in expected} == expected
