"""``DAG``: the container every task attaches to, usable as context manager or plain object.

Defaults follow Airflow 3 (manual schedule, ``catchup=False``, 16 active runs). DAG arguments
Leoflow cannot honour yet are refused at the user's line.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from . import context
from .convert import flag, iso_datetime, schedule, seconds, timezone_name
from .errors import InvalidDagError, NotSupportedError, user_location
from .params import params_to_json
from .task_args import DAG_LEVEL_DEFAULTS

if TYPE_CHECKING:
    from .baseoperator import BaseOperator

_NOTSET: Any = object()
_DESCRIPTIVE = frozenset(
    {
        "dag_display_name",
        "owner_links",
        "default_view",
        "orientation",
        "auto_register",
        "is_paused_upon_creation",
        "template_undefined",
    }
)
_AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "dagrun_timeout": (None,),
    "on_success_callback": (None, []),
    "on_failure_callback": (None, []),
    "sla_miss_callback": (None,),
    "template_searchpath": (None, [], ""),
    "user_defined_macros": (None, {}),
    "user_defined_filters": (None, {}),
    "render_template_as_native_obj": (False,),
    "jinja_environment_kwargs": (None, {}),
    "access_control": (None, {}),
    "max_consecutive_failed_dag_runs": (0, None),
    "fail_fast": (False,),
    "timetable": (None,),
    "deadline": (None,),
}
_PER_DAG_ONLY = DAG_LEVEL_DEFAULTS | {"owner", "start_date", "end_date"}


def _check_dag_kwargs(kwargs: dict[str, Any]) -> None:
    for name, value in kwargs.items():
        if name in _DESCRIPTIVE:
            continue
        if name not in _AT_DEFAULT:
            raise InvalidDagError(
                f"unknown DAG argument {name!r}", "remove it or check its spelling"
            )
        if not any(value is ok or value == ok for ok in _AT_DEFAULT[name]):
            raise NotSupportedError(f"DAG argument {name}")


def _positive(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidDagError(f"{name} is {value!r}", "pass a whole number >= 1")
    return int(value)


class DAG:
    """A DAG definition (Airflow 3 signature); records structure, runs nothing."""

    def __init__(
        self,
        dag_id: str,
        *,
        description: str | None = None,
        schedule: Any = _NOTSET,
        start_date: Any = None,
        end_date: Any = None,
        default_args: dict[str, Any] | None = None,
        max_active_tasks: int | None = None,
        max_active_runs: int | None = None,
        catchup: bool | None = None,
        doc_md: str | None = None,
        params: dict[str, Any] | None = None,
        tags: Any = None,
        schedule_interval: Any = _NOTSET,
        concurrency: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.location = user_location() if context.checking else context.RUNTIME_LOCATION
        if not isinstance(dag_id, str) or not dag_id:
            raise InvalidDagError(f"dag_id {dag_id!r} is not a string", "pass dag_id='name'")
        _check_dag_kwargs(kwargs)
        self.dag_id = dag_id
        self.description = description
        self.default_args: dict[str, Any] = dict(default_args or {})
        if schedule is not _NOTSET and schedule_interval is not _NOTSET:
            raise InvalidDagError(
                "both schedule and schedule_interval are given", "keep only schedule"
            )
        self.schedule = schedule if schedule is not _NOTSET else schedule_interval
        if self.schedule is _NOTSET:
            self.schedule = None
        self.start_date = (
            start_date if start_date is not None else self.default_args.get("start_date")
        )
        self.end_date = end_date if end_date is not None else self.default_args.get("end_date")
        self.max_active_tasks = max_active_tasks if max_active_tasks is not None else concurrency
        self.max_active_runs = max_active_runs
        self.catchup = catchup
        if doc_md is not None and not isinstance(doc_md, str):
            raise InvalidDagError(f"doc_md is a {type(doc_md).__name__}", "pass Markdown text")
        self.doc_md = doc_md
        self.params = params
        self.tags = list(tags or [])
        self.task_dict: dict[str, BaseOperator] = {}
        self.python_callables: dict[str, Any] = {}
        self.group_ids: set[str] = set()
        self._next_suffix: dict[str, int] = {}
        if context.checking:
            self.record()
        context.created_dags.append(self)

    def __enter__(self) -> DAG:
        context.dag_stack.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        context.dag_stack.remove(self)

    @property
    def tasks(self) -> list[BaseOperator]:
        """Tasks in creation order."""
        return list(self.task_dict.values())

    @property
    def task_ids(self) -> list[str]:
        """Task ids in creation order."""
        return list(self.task_dict)

    def get_task(self, task_id: str) -> BaseOperator:
        """The task with this id (KeyError naming the id otherwise)."""
        return self.task_dict[task_id]

    def per_task_defaults(self) -> dict[str, Any]:
        """``default_args`` that apply to each task (the DAG-level ones are kept apart)."""
        return {k: v for k, v in self.default_args.items() if k not in _PER_DAG_ONLY}

    def unique_task_id(self, base: str) -> str:
        """``base``, else ``base__1``, ``base__2`` … as Airflow names repeated TaskFlow calls.

        Tasks are never removed, so the first free suffix only grows: it is remembered per
        base, and a function called a thousand times does not probe a thousand ids each time.
        """
        if base not in self.task_dict:
            return base
        n = self._next_suffix.get(base, 1)
        while f"{base}__{n}" in self.task_dict:
            n += 1
        self._next_suffix[base] = n
        return f"{base}__{n}"

    def add_task(self, task: BaseOperator) -> None:
        """Register a task; a second task with the same id is an error, as in Airflow."""
        if task.task_id in self.task_dict:
            raise InvalidDagError(
                f"task id '{task.task_id}' is used twice in DAG '{self.dag_id}'",
                "give every task a unique task_id",
            )
        self.task_dict[task.task_id] = task

    def owner(self) -> str | None:
        """Airflow's DAG owner: the owners of its tasks, joined (``default_args`` fills gaps).

        When no task names its own owner this is ``default_args["owner"]`` (or unset); when
        some do, every distinct task owner is listed, with Airflow's ``airflow`` for tasks
        that have none, so an owner given to one task is not lost.
        """
        default = self.default_args.get("owner")
        default = str(default) if default else None
        if not any(task.owner for task in self.tasks):
            return default
        owners = {task.owner or default or "airflow" for task in self.tasks}
        return ", ".join(sorted(owners))

    def record(self) -> dict[str, Any]:
        """The DAG-level fields for ``dag.json`` (tasks are added by the exporter)."""
        defaults = {
            "retries": self.default_args.get("retries"),
            "retry_delay_seconds": seconds(self.default_args.get("retry_delay"), "retry_delay"),
            "retry_exponential_backoff": flag(
                self.default_args.get("retry_exponential_backoff"),
                "default_args retry_exponential_backoff",
            ),
            "execution_timeout_seconds": seconds(
                self.default_args.get("execution_timeout"), "execution_timeout"
            ),
        }
        return {
            "dag_id": self.dag_id,
            "description": self.description,
            "doc_md": self.doc_md,
            "owner": self.owner(),
            "tags": [str(tag) for tag in self.tags],
            "schedule": schedule(self.schedule),
            "schedule_timezone": timezone_name(self.start_date) if self.start_date else "UTC",
            "start_date": iso_datetime(self.start_date, "start_date"),
            "end_date": iso_datetime(self.end_date, "end_date"),
            "catchup": bool(self.catchup) if self.catchup is not None else None,
            "max_active_runs": _positive(self.max_active_runs, "max_active_runs"),
            "max_active_tasks": _positive(self.max_active_tasks, "max_active_tasks"),
            "params": params_to_json(self.params),
            "default_args": {k: v for k, v in defaults.items() if v is not None},
        }
