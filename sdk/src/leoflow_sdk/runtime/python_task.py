"""Running a python task: call its callable with bound arguments and the Airflow context.

``@task`` functions and ``PythonOperator`` callables run the same way: the compiler recorded
``op_args``/``op_kwargs`` by parameter name, so both are keyword bindings here.
"""

from __future__ import annotations

from leoflow_sdk.runtime.binding import bind_arguments
from leoflow_sdk.runtime.loader import find_dag_objects, resolve_callable, shim
from leoflow_sdk.runtime.session import TaskSession


def run_python_task(session: TaskSession) -> None:
    """Call the task's callable and write its return value."""
    task = session.spec.task
    entrypoint = task.get("entrypoint")
    if not entrypoint:
        raise ValueError(f"python task '{session.task_id}' has no entrypoint in its spec")
    function = resolve_callable(session.spec, str(entrypoint))
    dag, task_object = find_dag_objects(session.spec)
    context = session.build_context(task_object, dag)
    args, kwargs = bind_arguments(function, session.bound_values(context), context)
    task_context = shim("airflow._leoflow.task_context")
    task_context.set_current_context(context)
    try:
        result = function(*args, **kwargs)
    finally:
        task_context.set_current_context(None)
    session.write_return_value(result, bool(task.get("multiple_outputs")))
