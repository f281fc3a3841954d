"""Finding a python task's callable again at run time, from its recorded ``entrypoint``.

The runtime first imports the DAG module (from the source recorded in ``dag.json``, under the
module name of the entrypoint), which rebuilds the DAGs through this shim. The callable is then
taken from the rebuilt task (exact even for functions defined inside a ``@dag`` function or
lambdas); an entrypoint outside the DAG module is resolved by attribute path.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from . import context


def resolve_python_callable(entrypoint: str, dag_id: str, task_id: str) -> Callable[..., Any]:
    """The function a python task calls; ``LookupError`` naming the entrypoint if absent."""
    for dag in context.created_dags:
        if dag.dag_id == dag_id and task_id in dag.python_callables:
            found: Callable[..., Any] = dag.python_callables[task_id]
            return found
    module_name, _, path = entrypoint.partition(":")
    target: Any = importlib.import_module(module_name)
    try:
        for part in path.split("."):
            target = getattr(target, part)
    except AttributeError:
        raise LookupError(
            f"entrypoint {entrypoint!r} of task {task_id!r} names nothing in {module_name}"
        ) from None
    function = getattr(target, "function", target)
    if not callable(function):
        raise LookupError(f"entrypoint {entrypoint!r} of task {task_id!r} is not callable")
    return function  # type: ignore[no-any-return]
