"""The compiler: a DAG project (``dag.py``/``dag.yaml`` + ``leoflow.yaml``) to ``dag.json``.

The DAG file is imported through the Airflow shim in a child process (no task body runs, the
control plane never imports user code), the recorded DAG is overlaid with ``leoflow.yaml`` and
validated with the spec models. Image building plugs in after ``compile_project``: it takes the
``CompileResult`` and returns the spec with ``image`` set.
"""

from leoflow.compiler.errors import CompileError
from leoflow.compiler.project import CompileResult, compile_project
from leoflow.compiler.workspace import (
    WorkspaceCompilation,
    check_unique_dag_ids,
    compile_workspace,
    scan_workspace,
)

__all__ = [
    "CompileError",
    "CompileResult",
    "WorkspaceCompilation",
    "check_unique_dag_ids",
    "compile_project",
    "compile_workspace",
    "scan_workspace",
]
