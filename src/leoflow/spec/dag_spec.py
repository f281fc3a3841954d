"""``DagSpec``: the compiled, immutable description of one DAG version (``dag.json`` 1.0).

This model is the one home of the artifact's schema (ADR 0004): the compiler produces it, the
API stores it, the scheduler plans from it and the JSON Schema in ``docs/schemas`` is exported
from it. Besides per-field rules it checks the DAG as a whole — unique task ids, dependencies
that exist, XCom bindings that follow edges, no cycles — and reports every problem it finds
at once, each with its fix.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AwareDatetime, Field, JsonValue, PrivateAttr, field_validator, model_validator
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
from leoflow.spec.schedules import Schedule, Timezone
from leoflow.spec.task_spec import TaskSpec

SCHEMA_VERSION = "1.0"
"""The ``dag.json`` schema version this code reads and writes."""

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


class DagSpec(SpecModel):
    """A compiled DAG: schedule, limits, defaults and tasks; validated as a whole graph.

    ``schedule`` is ``null`` (manual only), a preset, a 5-field cron expression, or
    ``{"interval_seconds": N}`` for a fixed interval (see ``leoflow.spec.schedules``). A DAG
    with a schedule needs ``start_date``: scheduled runs are counted from it. ``start_date``
    and ``end_date`` must carry a UTC offset. ``dag_version`` is a label given at compile or
    push time and is not part of the content hash (``spec_hash``).
    """

    schema_version: Literal["1.0"]
    dag_id: DagId
    dag_version: DagVersion | None = None
    image: ImageRef | None = Field(default=None, description="unset in Lite (a venv is used)")
    description: str | None = None
    owner: str | None = None
    tags: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] = ()
    schedule: Schedule = None
    schedule_timezone: Timezone = "UTC"
    start_date: Annotated[AwareDatetime, NotNumber] | None = None
    end_date: Annotated[AwareDatetime, NotNumber] | None = None
    catchup: StrictBool = False
    max_active_runs: PositiveInt = 16
    max_active_tasks: PositiveInt | None = None
    params: dict[str, JsonValue] = Field(default_factory=dict)
    default_args: DefaultArgs = Field(default_factory=DefaultArgs)
    staging: Staging | None = None
    xcom_ttl_seconds: PositiveInt | None = None
    source: Annotated[str, Field(min_length=1, description="the DAG file text")]
    tasks: Annotated[
        tuple[TaskSpec, ...], non_empty("a DAG needs at least one task; add one"), MIN_ONE_ITEM
    ]

    _index: tuple[tuple[TaskSpec, ...], dict[str, TaskSpec], dict[str, list[str]]] | None = (
        PrivateAttr(default=None)
    )

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
        problems = [*self._date_problems(), *self._graph_problems()]
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

    def _graph_problems(self) -> list[str]:
        problems = self._duplicate_problems()
        known = list(dict.fromkeys(task.task_id for task in self.tasks))
        for index, task in enumerate(self.tasks):
            problems.extend(_reference_problems(index, task, known))
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
        # Built once per tasks tuple (``model_copy(update=...)`` may swap the tuple).
        if self._index is None or self._index[0] is not self.tasks:
            by_id = {task.task_id: task for task in self.tasks}
            downstream = downstream_map({t.task_id: t.depends_on for t in self.tasks})
            self._index = (self.tasks, by_id, downstream)
        return self._index[1], self._index[2]

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


def _reference_problems(index: int, task: TaskSpec, known: list[str]) -> list[str]:
    where = f"tasks[{index}] ({task.task_id})"
    known_set = set(known)

    def unknown(task_id: str, field: str) -> str:
        return (
            f"{where}: {field} names unknown task '{task_id}'{did_you_mean(task_id, known)}; "
            f"known task ids: {list_choices(known)}"
        )

    problems = [unknown(up, "depends_on") for up in task.depends_on if up not in known_set]
    for param, upstreams in task.xcom_input.items():
        for upstream in upstreams:
            if upstream not in known_set:
                problems.append(unknown(upstream, f"xcom_input '{param}'"))
            elif upstream not in task.depends_on:
                problems.append(
                    f"{where}: xcom_input '{param}' reads from '{upstream}', which is not in "
                    f"depends_on; add '{upstream}' to depends_on (the compiler adds this edge "
                    "for TaskFlow calls, so a hand-written dag.json must list it too)"
                )
    return problems
