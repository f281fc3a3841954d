"""TaskFlow: ``@task`` and ``@dag``, whose calls record tasks and the data edges between them.

Calling a ``@task`` function inside a DAG creates a python task and returns its future result
(``XComArg``); passing that result to another call is both a dependency and an ``xcom_input``
binding. Repeated calls get ids ``name``, ``name__1``, ``name__2`` as in Airflow.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ClassVar

from .baseoperator import MAPPING_FIX, XComArg
from .dag import DAG
from .errors import NotSupportedError
from .operators import PythonOperator

MULTIPLE_OUTPUTS_FIX = "return one value (e.g. a dict) and read its keys in the downstream task"

_UNSUPPORTED_KINDS = {
    "branch": "@task.branch (branching)",
    "short_circuit": "@task.short_circuit (short-circuiting)",
    "sensor": "@task.sensor (sensors)",
    "virtualenv": "@task.virtualenv",
    "external_python": "@task.external_python",
    "branch_virtualenv": "@task.branch_virtualenv (branching)",
    "branch_external_python": "@task.branch_external_python (branching)",
    "docker": "@task.docker",
    "kubernetes": "@task.kubernetes",
    "kubernetes_cmd": "@task.kubernetes_cmd",
    "run_if": "@task.run_if",
    "skip_if": "@task.skip_if",
    "pyspark": "@task.pyspark",
    "bash": "@task.bash (its command is computed by the task body at run time)",
}
_BASH_FIX = "use BashOperator(task_id=..., bash_command='...') with the command text"


class _TaskFlowOperator(PythonOperator):
    """The python task one ``@task`` call creates."""

    decorated_base: ClassVar[str] = ""

    def __init__(
        self, *, base_id: str, function: Callable[..., Any], args: Any, kwargs: Any, **op: Any
    ) -> None:
        self._base_id = base_id
        super().__init__(
            task_id=base_id, python_callable=function, op_args=args, op_kwargs=kwargs, **op
        )
        if self.doc_md is None:
            self.doc_md = inspect.getdoc(function)

    def _full_task_id(self, task_id: str) -> str:
        return self.dag.unique_task_id(super()._full_task_id(task_id))


class TaskDecorator:
    """A ``@task``-decorated function: call it inside a DAG to add a task."""

    def __init__(self, function: Callable[..., Any], operator_kwargs: dict[str, Any]) -> None:
        if operator_kwargs.get("multiple_outputs"):
            raise NotSupportedError("multiple_outputs=True", fix=MULTIPLE_OUTPUTS_FIX)
        operator_kwargs.pop("multiple_outputs", None)
        self.function = function
        self.operator_kwargs = operator_kwargs
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        options = dict(self.operator_kwargs)
        base_id = options.pop("task_id", None) or self.function.__name__
        operator = _TaskFlowOperator(
            base_id=base_id, function=self.function, args=args, kwargs=kwargs, **options
        )
        return XComArg(operator)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy with other operator arguments (``task_id``, ``retries`` …)."""
        return TaskDecorator(self.function, {**self.operator_kwargs, **kwargs})

    def expand(self, **_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.expand())", fix=MAPPING_FIX)

    def partial(self, **_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.partial())", fix=MAPPING_FIX)

    def expand_kwargs(self, *_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.expand_kwargs())", fix=MAPPING_FIX)


def _python(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
    if kwargs.get("multiple_outputs"):
        raise NotSupportedError("multiple_outputs=True", fix=MULTIPLE_OUTPUTS_FIX)
    if python_callable is not None:
        return TaskDecorator(python_callable, kwargs)
    return lambda function: TaskDecorator(function, kwargs)


class _TaskNamespace:
    """The ``task`` object: ``@task``, ``@task(...)``, ``@task.python``; other kinds refused."""

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return _python(python_callable, **kwargs)

    @staticmethod
    def python(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.python``: the same as ``@task``."""
        return _python(python_callable, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        what = _UNSUPPORTED_KINDS.get(name, f"@task.{name}")
        raise NotSupportedError(what, fix=_BASH_FIX if name == "bash" else None)


task = _TaskNamespace()


class DagDecorator:
    """A ``@dag``-decorated function: each call builds and returns one DAG."""

    def __init__(self, function: Callable[..., Any], dag_kwargs: dict[str, Any]) -> None:
        self.function = function
        self.dag_kwargs = dag_kwargs
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> DAG:
        if inspect.signature(self.function).parameters:
            raise NotSupportedError(
                f"parameters on a @dag function ({self.function.__name__})",
                fix="declare them with params={...} and read them inside the tasks",
            )
        options = dict(self.dag_kwargs)
        dag_id = options.pop("dag_id", None) or self.function.__name__
        options.setdefault("doc_md", inspect.getdoc(self.function))
        with DAG(dag_id, **options) as built:
            self.function(*args, **kwargs)
        return built


def dag(dag_id: Any = None, **dag_kwargs: Any) -> Any:
    """``@dag`` or ``@dag(...)``: the DAG id defaults to the function name."""
    if callable(dag_id):
        return DagDecorator(dag_id, {})
    if dag_id is not None:
        dag_kwargs["dag_id"] = dag_id

    def decorate(function: Callable[..., Any]) -> DagDecorator:
        return DagDecorator(function, dag_kwargs)

    return decorate
