"""The Airflow task context at run time: ``ti``, ``dag_run``, ``params``, ``ds`` and the rest.

The runtime builds it once per try from what the agent delivered (the run context in the task
spec file, the XCom inputs, the environment) and makes it current while the task runs, so
``get_current_context()`` and templates see the same objects a TaskFlow function receives.
While a DAG file is being compiled nothing is current, and asking for the context is the
compile error ADR 0025 describes: values that exist only at run time must not be frozen into
the artifact.

``ti.xcom_pull`` serves what the agent fetched for this try (the task's ``xcom_input``) and
what this try pushed itself; anything else is refused by name, because the process has no
channel to the control plane and a silent ``None`` would hide the mistake.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from ..exceptions import AirflowException
from .errors import NotSupportedError

XCOM_RETURN_KEY = "return_value"

_current: dict[str, Any] | None = None


def set_current_context(context: dict[str, Any] | None) -> None:
    """Make ``context`` the running task's context (``None``: no task is running)."""
    global _current  # noqa: PLW0603 - one running task per process
    _current = context


def task_is_running() -> bool:
    """Whether a task body runs in this process right now (false while compiling)."""
    return _current is not None


def get_current_context() -> dict[str, Any]:
    """The context of the running task (Airflow's ``get_current_context``)."""
    if _current is None:
        raise NotSupportedError(
            "get_current_context() at DAG definition time",
            fix="call it inside a task function, where the context exists",
        )
    return _current


def require_running_task(what: str, fix: str) -> None:
    """Refuse a run-time-only call made while the DAG file is being defined."""
    if _current is None:
        raise NotSupportedError(f"{what} at DAG definition time (top-level code)", fix=fix)


class XComNotAvailableError(AirflowException):
    """``xcom_pull`` of an XCom this try was not given (not bound to the task's arguments)."""


class _Lazy:
    """Stands for an object that is only built when a template or the task touches it (the
    task and DAG objects of a bash task, whose DAG file is otherwise never imported)."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load = load
        self._target: Any = None

    def _resolve(self) -> Any:
        if self._target is None:
            self._target = self._load()
        return self._target

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._resolve(), name)

    def __str__(self) -> str:
        return str(self._resolve())

    def __repr__(self) -> str:
        return repr(self._resolve())


class TaskInstance:
    """The running try (Airflow's ``RuntimeTaskInstance``): identity plus XCom pull and push."""

    def __init__(
        self,
        *,
        dag_id: str,
        run_id: str,
        task_id: str,
        try_number: int,
        max_tries: int,
        map_index: int,
        xcom_inputs: Mapping[tuple[str, str], Any],
        push_xcom: Callable[[str, Any], None],
        task: Any = None,
        logical_date: dt.datetime | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.task_id = task_id
        self.try_number = try_number
        self.max_tries = max_tries
        self.map_index = map_index
        self.hostname = socket.gethostname()
        self.state = "running"
        self.task = task
        self.logical_date = logical_date
        self._inputs = dict(xcom_inputs)
        self._pushed: dict[str, Any] = {}
        self._push = push_xcom

    @property
    def log(self) -> logging.Logger:
        """The task logger (its lines reach the task log through stderr)."""
        return logging.getLogger("airflow.task")

    def _pull_one(self, task_id: str, key: str, default: Any) -> Any:
        if task_id == self.task_id and key in self._pushed:
            return self._pushed[key]
        if (task_id, key) in self._inputs:
            value = self._inputs[(task_id, key)]
            return default if value is None else value
        bound = sorted(t if k == XCOM_RETURN_KEY else f"{t}[{k!r}]" for t, k in self._inputs) or [
            "nothing"
        ]
        what = task_id if key == XCOM_RETURN_KEY else f"{task_id}, key={key!r}"
        raise XComNotAvailableError(
            f"ti.xcom_pull({what}) in task '{self.task_id}': Leoflow delivers only the XComs "
            f"bound to the task's arguments (this task gets {', '.join(bound)}). Fix: pass the "
            "upstream result as an argument (TaskFlow: my_task(x=upstream()); PythonOperator: "
            "op_kwargs={'x': upstream_op.output}) and read the parameter"
        )

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str = XCOM_RETURN_KEY,
        include_prior_dates: bool = False,
        *,
        map_indexes: Any = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """An XCom of this run: a single value for one task id, a list for several."""
        if dag_id not in (None, self.dag_id) or run_id not in (None, self.run_id):
            raise XComNotAvailableError(
                "ti.xcom_pull from another DAG or run is not supported by Leoflow; "
                "pass the value through the run's conf or params instead"
            )
        if include_prior_dates:
            raise XComNotAvailableError(
                "ti.xcom_pull(include_prior_dates=True) is not supported by Leoflow"
            )
        del map_indexes  # tasks are never mapped in Leoflow
        key = key or XCOM_RETURN_KEY
        if task_ids is None or isinstance(task_ids, str):
            return self._pull_one(task_ids or self.task_id, key, default)
        return [self._pull_one(task_id, key, default) for task_id in task_ids]

    def xcom_push(self, key: str, value: Any) -> None:
        """Store an XCom of this try under ``key`` (sent to the control plane after the task)."""
        if not isinstance(key, str) or not key:
            raise ValueError(f"ti.xcom_push: key must be a non-empty string, got {key!r}")
        self._push(key, value)
        self._pushed[key] = value

    def __repr__(self) -> str:
        return f"<TaskInstance: {self.dag_id}.{self.task_id} {self.run_id} try {self.try_number}>"


class DagRun:
    """The run this try belongs to (``dag_run`` in the context)."""

    def __init__(
        self,
        *,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any],
        run_type: str,
        logical_date: dt.datetime | None,
        data_interval_start: dt.datetime | None,
        data_interval_end: dt.datetime | None,
    ) -> None:
        self.dag_id = dag_id
        self.run_id = run_id
        self.conf = conf
        self.run_type = run_type
        self.logical_date = logical_date
        self.data_interval_start = data_interval_start
        self.data_interval_end = data_interval_end
        self.state = "running"
        self.external_trigger = run_type == "manual"

    def __repr__(self) -> str:
        return f"<DagRun {self.dag_id} @ {self.run_id}>"


class _VariableValues:
    """``var.value.<key>`` / ``var.json.<key>`` in templates."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return self.get(key)

    def get(self, key: str, default: Any = ...) -> Any:
        """The variable, or ``default`` when given and the variable does not exist."""
        from .variables import Variable

        if default is ...:
            return Variable.get(key, deserialize_json=self._json)
        return Variable.get(key, default, deserialize_json=self._json)


class _ConnectionValues:
    """``conn.<conn_id>`` in templates."""

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return self.get(conn_id)

    def get(self, conn_id: str, default: Any = ...) -> Any:
        """The connection, or ``default`` when given and the connection does not exist."""
        from ..exceptions import AirflowNotFoundException
        from .connections import Connection

        try:
            return Connection.get(conn_id)
        except AirflowNotFoundException:
            if default is ...:
                raise
            return default


def _ds_add(ds: str, days: int) -> str:
    """``macros.ds_add('2015-01-01', 5)`` → ``'2015-01-06'``."""
    if not days:
        return str(ds)
    value = dt.datetime.strptime(str(ds), "%Y-%m-%d") + dt.timedelta(days=days)
    return value.strftime("%Y-%m-%d")


def _ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``macros.ds_format('2015-01-01', '%Y-%m-%d', '%m-%d-%y')`` → ``'01-01-15'``."""
    return dt.datetime.strptime(str(ds), input_format).strftime(output_format)


MACROS = SimpleNamespace(
    datetime=dt.datetime,
    timedelta=dt.timedelta,
    json=__import__("json"),
    time=time,
    uuid=uuid,
    random=random,
    ds_add=_ds_add,
    ds_format=_ds_format,
)
"""``macros`` in templates (the subset of ``airflow.macros`` that needs no extra package)."""


def _as_airflow_datetime(value: dt.datetime | None) -> Any:
    """A ``pendulum`` DateTime when the DAG code uses the real pendulum, else ``datetime``."""
    if value is None:
        return None
    pendulum = sys.modules.get("pendulum")
    instance = getattr(pendulum, "instance", None)
    return instance(value) if callable(instance) else value


def date_fields(logical_date: dt.datetime | None, dag_id: str, task_id: str) -> dict[str, Any]:
    """``ds``, ``ts`` and friends; empty for a run without a logical date (as in Airflow 3)."""
    if logical_date is None:
        return {}
    ds = logical_date.strftime("%Y-%m-%d")
    ts = logical_date.isoformat()
    ds_nodash = ds.replace("-", "")
    return {
        "logical_date": _as_airflow_datetime(logical_date),
        "ds": ds,
        "ds_nodash": ds_nodash,
        "ts": ts,
        "ts_nodash": logical_date.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": ts.replace("-", "").replace(":", ""),
        "task_instance_key_str": f"{dag_id}__{task_id}__{ds_nodash}",
    }


def build_context(
    *,
    run: Mapping[str, Any],
    params: dict[str, Any],
    xcom_inputs: Mapping[tuple[str, str], Any],
    push_xcom: Callable[[str, Any], None],
    task: Any,
    dag: Any,
) -> dict[str, Any]:
    """The context of one try from the run context the agent delivered (``run`` keys:
    ``dag_id``, ``run_id``, ``task_id``, ``try_number``, ``max_tries``, ``map_index``,
    ``logical_date``, ``data_interval_start``, ``data_interval_end``, ``run_type``, ``conf``;
    dates as ``datetime`` or ``None``)."""
    logical_date: dt.datetime | None = run.get("logical_date")
    interval_start = run.get("data_interval_start")
    interval_end = run.get("data_interval_end")
    ti = TaskInstance(
        dag_id=run["dag_id"],
        run_id=run["run_id"],
        task_id=run["task_id"],
        try_number=int(run.get("try_number", 1)),
        max_tries=int(run.get("max_tries", 0)),
        map_index=int(run.get("map_index", -1)),
        xcom_inputs=xcom_inputs,
        push_xcom=push_xcom,
        task=task,
        logical_date=_as_airflow_datetime(logical_date),
    )
    dag_run = DagRun(
        dag_id=run["dag_id"],
        run_id=run["run_id"],
        conf=dict(run.get("conf") or {}),
        run_type=str(run.get("run_type") or "manual"),
        logical_date=_as_airflow_datetime(logical_date),
        data_interval_start=_as_airflow_datetime(interval_start),
        data_interval_end=_as_airflow_datetime(interval_end),
    )
    context: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": dag_run,
        "run_id": run["run_id"],
        "params": params,
        "var": SimpleNamespace(value=_VariableValues(False), json=_VariableValues(True)),
        "conn": _ConnectionValues(),
        "macros": MACROS,
        "data_interval_start": _as_airflow_datetime(interval_start),
        "data_interval_end": _as_airflow_datetime(interval_end),
        "inlets": [],
        "outlets": [],
        "map_index_template": None,
        "expanded_ti_count": None,
    }
    context.update(date_fields(logical_date, run["dag_id"], run["task_id"]))
    return context


def lazy(load: Callable[[], Any]) -> Any:
    """An object built on first attribute access (see ``_Lazy``)."""
    return _Lazy(load)


__all__ = [
    "MACROS",
    "DagRun",
    "TaskInstance",
    "XComNotAvailableError",
    "build_context",
    "date_fields",
    "get_current_context",
    "lazy",
    "require_running_task",
    "set_current_context",
    "task_is_running",
]
