"""``DagSpec``: the compiled, immutable description of one DAG version (``dag.json`` 1.0).

This model is the one home of the artifact's schema (ADR 0004): the compiler produces it, the
API stores it, the scheduler plans from it and the JSON Schema in ``docs/schemas`` is exported
from it. Besides per-field rules it checks the DAG as a whole — unique task ids, dependencies
that exist, XCom bindings that follow edges, no cycles — and reports every problem it finds
at once, each with its fix.
"""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from leoflow.spec.errors import PROBLEMS_ERROR_TYPE, did_you_mean, list_choices
from leoflow.spec.fields import (
    MIN_ONE_ITEM,
    Count,
    DagId,
    ImageRef,
    NotNumber,
    PositiveInt,
    PositiveSeconds,
    Seconds,
    SpecModel,
    StrictBool,
    non_empty,
)
from leoflow.spec.graph import downstream_map, find_cycle
from leoflow.spec.graph import topological_order as _topological_order
from leoflow.spec.kubernetes import Staging
from leoflow.spec.project_yaml import PythonVersion, Requirement
from leoflow.spec.schedules import Schedule, Timezone
from leoflow.spec.task_spec import TaskSpec, TaskType
from leoflow.spec.xcom import XCOM_RETURN_KEY, JsonSchema, XcomPull, pull_of

_GraphIndex = tuple[tuple[TaskSpec, ...], dict[str, TaskSpec], dict[str, list[str]]]
_INDEX_KEY = "_leoflow_graph_index"

SCHEMA_VERSION = "1.0"
"""The ``dag.json`` schema version this code reads and writes."""

MODULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$"


def _check_module_name(name: str) -> str:
    parts = name.split(".")
    if not all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
        raise ValueError(
            f"{name!r} is not a dotted Python module name; use identifiers joined by dots, "
            "like 'my_dag' or 'pipelines.orders'"
        )
    return name


ModuleName = Annotated[
    str,
    AfterValidator(_check_module_name),
    WithJsonSchema({"type": "string", "pattern": MODULE_NAME_PATTERN}),
]
"""A dotted Python module name (each part an identifier that is not a keyword)."""

DagVersion = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,127}$",
        description="a label given at compile or push time; not part of the content hash",
    ),
]


class DefaultArgs(SpecModel):
    """DAG-level task defaults; a task's own value wins, the platform fills what is left."""

    retries: Count | None = None
    retry_delay_seconds: Seconds | None = None
    retry_exponential_backoff: StrictBool | None = None
    execution_timeout_seconds: PositiveSeconds | None = None


class PythonEnvironment(SpecModel):
    """The Python a DAG's tasks need: ``leoflow.yaml``'s ``python_version`` and
    ``dependencies``, baked in so the run-time environment follows the compiled version.

    Lite builds (and caches by these inputs) the DAG's own virtualenv from it; in Pro the
    image was built from the same inputs. A change of dependencies is a new DAG version.
    """

    python_version: PythonVersion | None = None
    dependencies: tuple[Requirement, ...] = ()


class DagSpec(SpecModel):
    """A compiled DAG: schedule, limits, defaults and tasks; validated as a whole graph.

    ``schedule`` is ``null`` (manual only), a preset, a 5-field cron expression, or
    ``{"interval_seconds": N}`` for a fixed interval (see ``leoflow.spec.schedules``). A DAG
    with a schedule needs ``start_date``: scheduled runs are counted from it. ``start_date``
    and ``end_date`` must carry a UTC offset. ``dag_version`` is a label given at compile or
    push time and is not part of the content hash (``spec_hash``).

    ``params`` maps each run parameter to its default; ``params_schema`` holds the JSON Schema
    of the parameters declared with ``Param(...)``. A name that is only in ``params_schema``
    has no default and must be given when a run is triggered, so a scheduled DAG cannot have
    one (as in Airflow). ``source_module`` is the module name ``source`` is imported as, so
    entrypoints that name it resolve at run time. ``docs/dag-json.md`` describes every field.
    """

    schema_version: Literal["1.0"]
    dag_id: DagId
    dag_version: DagVersion | None = None
    image: ImageRef | None = Field(default=None, description="unset in Lite (a venv is used)")
    description: str | None = None
    doc_md: str | None = Field(default=None, description="Markdown documentation for the UI")
    owner: str | None = None
    tags: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    schedule: Schedule = None
    schedule_timezone: Timezone = "UTC"
    start_date: Annotated[AwareDatetime, NotNumber] | None = None
    end_date: Annotated[AwareDatetime, NotNumber] | None = None
    catchup: StrictBool = False
    max_active_runs: PositiveInt = 16
    max_active_tasks: PositiveInt | None = None
    params: dict[str, JsonValue] = Field(
        default_factory=dict, description="run parameter name -> default value"
    )
    params_schema: dict[str, JsonSchema] = Field(
        default_factory=dict,
        description="run parameter name -> JSON Schema (from Param(...)); a name missing "
        "from params has no default and must be given at trigger time",
    )
    default_args: DefaultArgs = Field(default_factory=DefaultArgs)
    staging: Staging | None = None
    xcom_ttl_seconds: PositiveInt | None = None
    python_environment: PythonEnvironment | None = Field(
        default=None,
        description="leoflow.yaml python_version and dependencies; null = the platform's "
        "Python with leoflow-sdk only",
    )
    source_module: ModuleName | None = Field(
        default=None,
        description="the module name the Python DAG source is imported as; null for a "
        "declarative (dag.yaml) DAG",
    )
    source: Annotated[str, Field(min_length=1, description="the DAG file text")]
    tasks: Annotated[
        tuple[TaskSpec, ...], non_empty("a DAG needs at least one task; add one"), MIN_ONE_ITEM
    ]

    @field_validator("schema_version", mode="before")
    @classmethod
    def _known_version(cls, value: Any) -> Any:
        if value != SCHEMA_VERSION:
            raise ValueError(
                f"schema_version {value!r} is not supported; this Leoflow reads "
                f"'{SCHEMA_VERSION}' (recompile the DAG with a matching leoflow, or upgrade)"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: tuple[str, ...]) -> tuple[str, ...]:
        duplicates = sorted({tag for tag in tags if tags.count(tag) > 1})
        if duplicates:
            raise ValueError(f"tags lists {', '.join(duplicates)} more than once")
        return tags

    @model_validator(mode="after")
    def _check_dag(self) -> Self:
        problems = [*self._date_problems(), *self._param_problems(), *self._graph_problems()]
        if problems:
            raise PydanticCustomError(
                PROBLEMS_ERROR_TYPE,
                "{summary}",
                {"summary": "; ".join(problems), "problems": problems},
            )
        return self

    def _date_problems(self) -> list[str]:
        problems: list[str] = []
        if self.start_date and self.end_date and self.end_date < self.start_date:
            problems.append(
                f"end_date {self.end_date.isoformat()} is before start_date "
                f"{self.start_date.isoformat()}; move end_date later or remove it"
            )
        if self.schedule is not None and self.start_date is None:
            problems.append(
                "a scheduled DAG needs start_date (scheduled runs are counted from it); set "
                "start_date, or set schedule to null for manual runs only"
            )
        return problems

    def _param_problems(self) -> list[str]:
        problems: list[str] = []
        for name, schema in self.params_schema.items():
            if "default" in schema:
                problems.append(
                    f"params_schema '{name}' has a 'default'; write the default value in "
                    f"params['{name}'] instead (it is the one place defaults live)"
                )
            if name not in self.params and self.schedule is not None:
                problems.append(
                    f"param '{name}' has no default (it is in params_schema but not in params), "
                    "so scheduled runs could not fill it; give it a default in params, or set "
                    "schedule to null"
                )
        return problems

    def _graph_problems(self) -> list[str]:
        problems = self._duplicate_problems()
        by_id: dict[str, TaskSpec] = {}
        for task in self.tasks:
            by_id.setdefault(task.task_id, task)
        for index, task in enumerate(self.tasks):
            problems.extend(_reference_problems(index, task, by_id))
        if problems:
            return problems
        cycle = find_cycle({task.task_id: task.depends_on for task in self.tasks})
        if cycle is not None:
            problems.append(
                f"dependency cycle: {' -> '.join(cycle)}; remove one of these edges "
                "(a task cannot wait, directly or indirectly, for itself)"
            )
        return problems

    def _duplicate_problems(self) -> list[str]:
        positions: dict[str, list[int]] = {}
        for index, task in enumerate(self.tasks):
            positions.setdefault(task.task_id, []).append(index)
        return [
            f"duplicate task_id '{task_id}' at tasks{indexes}; task ids must be unique within "
            "a DAG, rename all but one"
            for task_id, indexes in positions.items()
            if len(indexes) > 1
        ]

    def _indexes(self) -> tuple[dict[str, TaskSpec], dict[str, list[str]]]:
        # Built once per tasks tuple (``model_copy(update=...)`` may swap the tuple). Kept in
        # the instance dict under a non-field name rather than in a pydantic private attribute:
        # pydantic compares private attributes in ``==``, and two specs with the same content
        # must stay equal whether or not one of them was queried.
        cached: _GraphIndex | None = self.__dict__.get(_INDEX_KEY)
        if cached is None or cached[0] is not self.tasks:
            by_id = {task.task_id: task for task in self.tasks}
            downstream = downstream_map({t.task_id: t.depends_on for t in self.tasks})
            cached = (self.tasks, by_id, downstream)
            self.__dict__[_INDEX_KEY] = cached
        return cached[1], cached[2]

    @property
    def task_ids(self) -> tuple[str, ...]:
        """Task ids in declaration order."""
        return tuple(task.task_id for task in self.tasks)

    def task(self, task_id: str) -> TaskSpec:
        """The task named ``task_id``; ``KeyError`` naming the known ids otherwise."""
        by_id, _ = self._indexes()
        try:
            return by_id[task_id]
        except KeyError:
            raise KeyError(
                f"DAG '{self.dag_id}' has no task '{task_id}'{did_you_mean(task_id, by_id)}"
                f"; known task ids: {list_choices(by_id)}"
            ) from None

    def upstream_of(self, task_id: str) -> tuple[str, ...]:
        """Direct upstream task ids of ``task_id`` (its ``depends_on``)."""
        return self.task(task_id).depends_on

    def downstream_of(self, task_id: str) -> tuple[str, ...]:
        """Direct downstream task ids of ``task_id``, in declaration order."""
        self.task(task_id)
        _, downstream = self._indexes()
        return tuple(downstream.get(task_id, ()))

    def topological_order(self) -> tuple[str, ...]:
        """Every task id after all of its upstreams; ties keep declaration order."""
        return tuple(_topological_order({t.task_id: t.depends_on for t in self.tasks}))


def _reference_problems(index: int, task: TaskSpec, by_id: dict[str, TaskSpec]) -> list[str]:
    where = f"tasks[{index}] ({task.task_id})"

    def unknown(task_id: str, field: str) -> str:
        return (
            f"{where}: {field} names unknown task '{task_id}'{did_you_mean(task_id, by_id)}; "
            f"known task ids: {list_choices(by_id)}"
        )

    problems = [unknown(up, "depends_on") for up in task.depends_on if up not in by_id]
    for param, sources in task.xcom_input.items():
        for source in sources:
            pull = pull_of(source)
            upstream = by_id.get(pull.task_id)
            if upstream is None:
                problems.append(unknown(pull.task_id, f"xcom_input '{param}'"))
                continue
            if pull.task_id not in task.depends_on:
                problems.append(
                    f"{where}: xcom_input '{param}' reads from '{pull.task_id}', which is not "
                    f"in depends_on; add '{pull.task_id}' to depends_on (the compiler adds this "
                    "edge for TaskFlow calls, so a hand-written dag.json must list it too)"
                )
            if pull.key != XCOM_RETURN_KEY and not upstream.multiple_outputs:
                problems.append(
                    f"{where}: xcom_input '{param}' {_keyed_ref_problem(pull, upstream)}"
                )
    return problems


def _keyed_ref_problem(pull: XcomPull, upstream: TaskSpec) -> str:
    whole = f"read its whole return value by writing '{pull.task_id}' as a plain string"
    if upstream.type is not TaskType.PYTHON:
        return (
            f"reads key '{pull.key}' of '{pull.task_id}', a {upstream.type.value} task, which "
            f"pushes no keyed XComs; {whole}"
        )
    return (
        f"reads key '{pull.key}' of '{pull.task_id}', which does not set multiple_outputs "
        "(only python tasks with multiple_outputs push keyed XComs); set multiple_outputs on "
        f"'{pull.task_id}', or {whole}"
    )
