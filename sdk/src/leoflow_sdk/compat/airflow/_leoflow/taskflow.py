"""TaskFlow: ``@task``, ``@task.bash`` and ``@dag``, whose calls record tasks and data edges.

Calling a ``@task`` function inside a DAG creates a python task and returns its future result
(``XComArg``); passing that result to another call is both a dependency and an ``xcom_input``
binding. Repeated calls get ids ``name``, ``name__1``, ``name__2`` as in Airflow.
``multiple_outputs`` follows Airflow: explicit, or inferred from a ``Mapping`` return
annotation. A ``@task.bash`` function returns the command, so it is recorded as the bash
task's ``command_callable`` with its arguments bound like a ``@task`` call.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from .baseoperator import MAPPING_FIX, BaseOperator, XComArg
from .binding import Bindings, bind_call
from .dag import DAG
from .entrypoints import entrypoint_of
from .errors import NotSupportedError
from .function_facts import remembered
from .operators import COMPUTED_COMMAND, BashOperator, PythonOperator

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
}


def infer_multiple_outputs(function: Callable[..., Any]) -> bool:
    """Airflow's rule: ``multiple_outputs`` is on when the return annotation is a ``Mapping``.

    An annotation that cannot be evaluated (a name defined later, a typo) means off, as in
    Airflow.
    """
    annotations = getattr(function, "__annotations__", {})
    if "return" not in annotations:
        return False

    def probe() -> None: ...

    probe.__annotations__ = {"return": annotations["return"]}
    try:
        hints = typing.get_type_hints(probe, getattr(function, "__globals__", {}))
    except (NameError, TypeError, AttributeError, SyntaxError):
        return False
    declared = hints.get("return", Any)
    origin = getattr(declared, "__origin__", declared)
    return isinstance(origin, type) and issubclass(origin, Mapping)


def _doc(function: Callable[..., Any]) -> str | None:
    """The function's docstring (the task's ``doc_md`` when none is given)."""
    doc: str | None = remembered(function, "doc", lambda: inspect.getdoc(function))
    return doc


class _TaskFlowOperator(PythonOperator):
    """The python task one ``@task`` call creates."""

    decorated_base: ClassVar[str] = ""

    def __init__(
        self,
        *,
        base_id: str,
        function: Callable[..., Any],
        args: Any,
        kwargs: Any,
        multiple_outputs: bool | None = None,
        **op: Any,
    ) -> None:
        self._base_id = base_id
        super().__init__(
            task_id=base_id, python_callable=function, op_args=args, op_kwargs=kwargs, **op
        )
        self.multiple_outputs = (
            remembered(function, "multiple_outputs", lambda: infer_multiple_outputs(function))
            if multiple_outputs is None
            else bool(multiple_outputs)
        )
        if self.doc_md is None:
            self.doc_md = _doc(function)

    def _full_task_id(self, task_id: str) -> str:
        return self.dag.unique_task_id(super()._full_task_id(task_id))


class _BashTaskFlowOperator(BashOperator):
    """The bash task one ``@task.bash`` call creates: its function returns the command."""

    def __init__(
        self,
        *,
        base_id: str,
        function: Callable[..., Any],
        args: Any,
        kwargs: Any,
        multiple_outputs: bool | None = None,
        **op: Any,
    ) -> None:
        # Airflow ignores multiple_outputs on @task.bash (with a warning): a command prints
        # one result, so there is nothing to split.
        del multiple_outputs
        super().__init__(task_id=base_id, bash_command=COMPUTED_COMMAND, **op)
        self.command_callable = entrypoint_of(function, self.task_id)
        self.bindings: Bindings = bind_call(self, function, tuple(args), dict(kwargs))
        self.dag.python_callables[self.task_id] = function
        if self.doc_md is None:
            self.doc_md = _doc(function)

    def _full_task_id(self, task_id: str) -> str:
        return self.dag.unique_task_id(super()._full_task_id(task_id))

    def record(self) -> dict[str, Any]:
        """The command callable and its bound arguments instead of a command text."""
        return {
            **super().record(),
            "command_callable": self.command_callable,
            "call_args": self.bindings.call_args,
            "xcom_input": self.bindings.xcom_input,
        }


class TaskDecorator:
    """A ``@task``-decorated function: call it inside a DAG to add a task."""

    def __init__(
        self,
        function: Callable[..., Any],
        operator_kwargs: dict[str, Any],
        operator_class: Callable[..., BaseOperator] = _TaskFlowOperator,
    ) -> None:
        self.function = function
        self.operator_kwargs = operator_kwargs
        self.operator_class = operator_class
        functools.update_wrapper(self, function)

    def __call__(self, *args: Any, **kwargs: Any) -> XComArg:
        options = dict(self.operator_kwargs)
        base_id = options.pop("task_id", None) or self.function.__name__
        operator = self.operator_class(
            base_id=base_id, function=self.function, args=args, kwargs=kwargs, **options
        )
        return XComArg(operator)

    def override(self, **kwargs: Any) -> TaskDecorator:
        """A copy with other operator arguments (``task_id``, ``retries`` …).

        Made by copying this decorator's attributes (the wrapped function's metadata
        included), which is what wrapping the function again would produce, without redoing it.
        """
        copy = object.__new__(TaskDecorator)
        copy.__dict__.update(self.__dict__)
        copy.operator_kwargs = {**self.operator_kwargs, **kwargs}
        return copy

    def expand(self, **_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.expand())", fix=MAPPING_FIX)

    def partial(self, **_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.partial())", fix=MAPPING_FIX)

    def expand_kwargs(self, *_: Any) -> Any:
        """Dynamic task mapping is refused."""
        raise NotSupportedError("dynamic task mapping (.expand_kwargs())", fix=MAPPING_FIX)


def _decorator(
    operator_class: Callable[..., BaseOperator],
    python_callable: Callable[..., Any] | None,
    kwargs: dict[str, Any],
) -> Any:
    if python_callable is not None:
        return TaskDecorator(python_callable, kwargs, operator_class)
    return lambda function: TaskDecorator(function, kwargs, operator_class)


class _TaskNamespace:
    """The ``task`` object: ``@task``, ``@task(...)``, ``@task.python``, ``@task.bash``."""

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return _decorator(_TaskFlowOperator, python_callable, kwargs)

    @staticmethod
    def python(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.python``: the same as ``@task``."""
        return _decorator(_TaskFlowOperator, python_callable, kwargs)

    @staticmethod
    def bash(python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.bash``: the function returns the command; BashOperator arguments apply."""
        return _decorator(_BashTaskFlowOperator, python_callable, kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise NotSupportedError(_UNSUPPORTED_KINDS.get(name, f"@task.{name}"))


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
