"""Putting the shim on ``sys.path`` and importing the DAG module the task comes from.

The path order is the compiler's (``shim_sys_path``): the DAG's project folder first (sibling
modules), then the shim (so ``import airflow`` is the shim, even if a real Airflow is
installed), then the interpreter's own paths, then the fallbacks (``pendulum``). The DAG
module is executed from the source recorded for this try under its recorded module name, so
two DAGs whose files share a name never see each other's code (lessons: never a shared module
name).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from leoflow_sdk.compat import FALLBACK_DIR, SHIM_PARENT
from leoflow_sdk.runtime.spec_file import RuntimeSpec


def prepare_sys_path(dag_dir: str | None) -> None:
    """Project folder, then the shim, first on ``sys.path``; fallbacks last."""
    front = [entry for entry in (dag_dir, str(SHIM_PARENT)) if entry]
    sys.path[:0] = [entry for entry in front if entry not in sys.path[:2]]
    if str(FALLBACK_DIR) not in sys.path:
        sys.path.append(str(FALLBACK_DIR))


def shim(module: str) -> Any:
    """A module of the shim by its ``airflow.*`` name (the identity user code sees)."""
    return importlib.import_module(module)


def import_dag_module(spec: RuntimeSpec) -> ModuleType | None:
    """Execute the DAG module of this try once (``None`` when the DAG has no Python source)."""
    name = spec.dag_module
    if not name:
        return None
    if name in sys.modules:
        return sys.modules[name]
    # The compiler checked this DAG file; rebuilding it here skips what only a compile needs.
    shim("airflow._leoflow.context").rebuilding()
    if spec.dag_source_file is None:
        return importlib.import_module(name)
    found = importlib.util.spec_from_file_location(name, spec.dag_source_file)
    if found is None or found.loader is None:
        raise ImportError(f"cannot load the DAG source {spec.dag_source_file}")
    module = importlib.util.module_from_spec(found)
    sys.modules[name] = module
    try:
        found.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def resolve_callable(spec: RuntimeSpec, target: str) -> Callable[..., Any]:
    """The function ``target`` (``module:callable``) names, found the compiler's way."""
    import_dag_module(spec)
    lookup = shim("airflow._leoflow.runtime_lookup")
    function: Callable[..., Any] = lookup.resolve_python_callable(
        target, spec.run.dag_id, spec.run.task_id
    )
    return function


def find_dag_objects(spec: RuntimeSpec) -> tuple[Any, Any]:
    """The shim's DAG and task objects of this try, rebuilt by importing the DAG module.

    A DAG without Python source (a declarative ``dag.yaml``) has none; small stand-ins with
    the ids keep ``{{ task.task_id }}`` and ``{{ dag.dag_id }}`` working.
    """
    import_dag_module(spec)
    recorded = shim("airflow._leoflow.context")
    for dag in recorded.created_dags:
        if dag.dag_id == spec.run.dag_id:
            return dag, dag.task_dict.get(spec.run.task_id) or _Stub(
                task_id=spec.run.task_id, dag_id=spec.run.dag_id
            )
    return _Stub(dag_id=spec.run.dag_id), _Stub(task_id=spec.run.task_id, dag_id=spec.run.dag_id)


class _Stub:
    """Ids only, for a DAG or task that has no Python object."""

    def __init__(self, **ids: str) -> None:
        self.__dict__.update(ids)

    def __repr__(self) -> str:
        return f"<{' '.join(f'{k}={v}' for k, v in self.__dict__.items())}>"
