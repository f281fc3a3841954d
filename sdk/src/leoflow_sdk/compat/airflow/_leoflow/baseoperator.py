"""``BaseOperator`` and ``XComArg``: a task records its id, type, settings and edges.

A task attaches itself to the DAG and TaskGroup open where it is created (or ``dag=`` /
``task_group=``), takes its group's prefix (``group.task``), and fills unset arguments from
``default_args`` exactly where Airflow would. Nothing here runs the task.
"""

from __future__ import annotations

import itertools
import weakref
from typing import TYPE_CHECKING, Any, ClassVar

from . import context
from .convert import doc_markdown, iso_datetime
from .edges import DependencyMixin, link
from .errors import InvalidDagError, NotSupportedError, user_location
from .task_args import task_settings

if TYPE_CHECKING:
    from .dag import DAG
    from .taskgroup import TaskGroup

MAPPING_FIX = "create one task per item in a Python loop over a literal list"
XCOM_RETURN_KEY = "return_value"
_RUNTIME_HOOKS = ("execute", "pre_execute", "post_execute", "on_kill")
_SHIM_PACKAGE = __name__.rsplit("._leoflow", 1)[0]


_ACCEPTED_CLASSES: weakref.WeakSet[type] = weakref.WeakSet()
"""Operator classes already checked by ``_refuse_custom_subclass`` and found supported: the
verdict depends on the class alone, so each class is walked once, not once per task."""


def _is_shim_module(module: str) -> bool:
    return module == _SHIM_PACKAGE or module.startswith(_SHIM_PACKAGE + ".")


class BaseOperator(DependencyMixin):
    """Base of every supported operator; a subclass that overrides ``execute`` is refused."""

    leoflow_type: ClassVar[str] = ""
    template_fields: ClassVar[tuple[str, ...]] = ()
    multiple_outputs: bool = False
    """Whether the task also pushes each key of its returned dict (TaskFlow python tasks)."""

    def __init__(
        self,
        *,
        task_id: str,
        dag: DAG | None = None,
        task_group: TaskGroup | None = None,
        default_args: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.location = user_location() if context.checking else context.RUNTIME_LOCATION
        self._refuse_custom_subclass()
        owner_dag = dag or (task_group.dag if task_group is not None else context.current_dag())
        if owner_dag is None:
            raise InvalidDagError(
                f"task '{task_id}' is created outside of any DAG",
                "create it inside a `with DAG(...)` block or a @dag function, or pass dag=",
            )
        self.dag: DAG = owner_dag
        self.task_group = task_group or context.current_group(owner_dag)
        if not isinstance(task_id, str) or not task_id:
            raise InvalidDagError(f"task_id {task_id!r} is not a string", "pass task_id='name'")
        self.task_id = self._full_task_id(task_id)
        self.upstream: dict[str, BaseOperator] = {}
        self.downstream: dict[str, BaseOperator] = {}
        args = self._effective_args(kwargs, default_args)
        self.doc_md: str | None = doc_markdown(args)
        self.owner: str | None = str(args["owner"]) if args.get("owner") else None
        self._check_dates(args)
        self.settings = task_settings(args, self.task_id)
        self.dag.add_task(self)
        if self.task_group is not None:
            self.task_group.add(self)

    def _full_task_id(self, task_id: str) -> str:
        return self.task_group.child_id(task_id) if self.task_group else task_id

    def _refuse_custom_subclass(self) -> None:
        cls = type(self)
        if cls in _ACCEPTED_CLASSES:
            return
        if not self.leoflow_type:
            raise NotSupportedError(f"custom operator {cls.__name__} (subclass of BaseOperator)")
        for hook in _RUNTIME_HOOKS:
            defined = next(k for k in cls.__mro__ if hook in vars(k) or k is BaseOperator)
            if not _is_shim_module(defined.__module__):
                raise NotSupportedError(
                    f"custom operator {cls.__name__} overriding {hook}() of {defined.__name__}"
                )
        _ACCEPTED_CLASSES.add(cls)

    def _effective_args(
        self, kwargs: dict[str, Any], default_args: dict[str, Any] | None
    ) -> dict[str, Any]:
        """Explicit arguments over operator, group and DAG ``default_args`` (in that order)."""
        merged: dict[str, Any] = dict(self.dag.per_task_defaults())
        if self.task_group is not None:
            merged.update(self.task_group.merged_default_args())
        merged.update(default_args or {})
        merged.update(kwargs)
        return merged

    def _check_dates(self, args: dict[str, Any]) -> None:
        for name in ("start_date", "end_date"):
            value = args.pop(name, None)
            if value is None:
                continue
            dag_value = getattr(self.dag, name)
            if iso_datetime(value, name) != iso_datetime(dag_value, name):
                raise NotSupportedError(f"a task {name} different from the DAG's ({self.task_id})")

    def add_upstream(self, other: BaseOperator) -> None:
        """Record that this task runs after ``other`` (idempotent, declaration order kept)."""
        if other.dag is not self.dag:
            raise InvalidDagError(
                f"tasks '{other.task_id}' and '{self.task_id}' belong to different DAGs",
                "only link tasks of the same DAG",
            )
        if other is self:
            raise InvalidDagError(f"task '{self.task_id}' depends on itself", "remove the edge")
        self.upstream.setdefault(other.task_id, other)
        other.downstream.setdefault(self.task_id, self)

    @property
    def output(self) -> XComArg:
        """The task's return value, to pass to another task (``op.output``)."""
        return XComArg(self)

    @property
    def upstream_task_ids(self) -> set[str]:
        """Ids of the direct upstream tasks."""
        return set(self.upstream)

    @property
    def downstream_task_ids(self) -> set[str]:
        """Ids of the direct downstream tasks."""
        return set(self.downstream)

    @classmethod
    def partial(cls, **_: Any) -> Any:
        """Dynamic task mapping (``Operator.partial(...).expand(...)``) is refused."""
        raise NotSupportedError("dynamic task mapping (.partial())", fix=MAPPING_FIX)

    def record(self) -> dict[str, Any]:
        """The task's fields for ``dag.json`` (subclasses add their own)."""
        return {"task_id": self.task_id, "type": self.leoflow_type}

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


class XComArg(DependencyMixin):
    """A task's future XCom: its return value, or one keyed XCom (``result["key"]``).

    Passed to another task it is both an edge and an ``xcom_input`` binding. Only a task with
    ``multiple_outputs`` pushes keyed XComs in Leoflow, which the binding checks.
    """

    def __init__(self, operator: BaseOperator, key: str = XCOM_RETURN_KEY) -> None:
        if not isinstance(key, str) or not key:
            raise InvalidDagError(
                f"XCom key {key!r} of task '{operator.task_id}' is not a string",
                "use the string key of the returned dict, e.g. result['total']",
            )
        self.operator = operator
        self.key = key

    def __getitem__(self, key: str) -> XComArg:
        if self.key != XCOM_RETURN_KEY:
            raise NotSupportedError(
                f"a key of a keyed task result ({self.operator.task_id}[{self.key!r}][{key!r}])",
                fix="pass the keyed result and read the nested value inside the task",
            )
        return XComArg(self.operator, key)

    def __iter__(self) -> Any:
        raise NotSupportedError("iterating over a task result at DAG definition time")

    def __str__(self) -> str:
        # Airflow renders str(XComArg) as an xcom_pull Jinja template; Leoflow binds results
        # only as task arguments, so a result pasted into a string is refused, not garbled.
        raise NotSupportedError(
            f"a task result used as text (str() of the result of {self.operator.task_id})",
            fix="pass the result as an argument of a @task or @task.bash function",
        )

    def __format__(self, spec: str) -> str:
        return str(self)

    def map(self, _: Any) -> Any:
        """``XComArg.map`` belongs to dynamic task mapping: refused."""
        raise NotSupportedError("dynamic task mapping (XComArg.map)")

    def zip(self, *_: Any, **__: Any) -> Any:
        """``XComArg.zip`` belongs to dynamic task mapping: refused."""
        raise NotSupportedError("dynamic task mapping (XComArg.zip)")

    def concat(self, *_: Any) -> Any:
        """``XComArg.concat`` belongs to dynamic task mapping: refused."""
        raise NotSupportedError("dynamic task mapping (XComArg.concat)")

    def set_downstream(self, other: Any) -> None:
        """Make ``other`` run after the producing task."""
        link(self.operator, other)

    def set_upstream(self, other: Any) -> None:
        """Make the producing task run after ``other``."""
        link(other, self.operator)

    def __repr__(self) -> str:
        return f"XComArg({self.operator.task_id!r}, key={self.key!r})"


def chain(*tasks: Any) -> None:
    """``chain(a, [b, c], d)``: consecutive elements are linked; two lists pair up elementwise."""
    for up, down in itertools.pairwise(tasks):
        if isinstance(up, (list, tuple)) and isinstance(down, (list, tuple)):
            if len(up) != len(down):
                raise InvalidDagError(
                    f"chain() got adjacent lists of lengths {len(up)} and {len(down)}",
                    "give adjacent lists the same length, or use cross_downstream()",
                )
            for left, right in zip(up, down, strict=True):
                link(left, right)
        else:
            link(up, down)


def cross_downstream(from_tasks: Any, to_tasks: Any) -> None:
    """Every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    for task in from_tasks:
        link(task, to_tasks)
