"""The task spec file (``LEOFLOW_TASK_SPEC_PATH``): what the runtime needs beyond the env.

The agent writes it into the per-try work folder; the runtime reads it. It holds the task's
complete ``dag.json`` entry, the run context for the Airflow context, where the DAG module
comes from, and which XComs each parameter was given (so ``ti.xcom_pull`` can serve them).
It holds no data values and no secrets: XCom values, variables and connections travel in the
environment (or in files named there).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

RETURN_VALUE_KEY = "return_value"


@dataclass(frozen=True)
class XComSource:
    """One element of an ``xcom_input`` binding: a task's XCom under ``key``."""

    task_id: str
    key: str = RETURN_VALUE_KEY

    def label(self) -> str:
        """``extract`` or ``split['head']``: how notices name the source."""
        return self.task_id if self.key == RETURN_VALUE_KEY else f"{self.task_id}[{self.key!r}]"


@dataclass(frozen=True)
class RunContext:
    """Identity of the try and the run-level values of the Airflow context."""

    dag_id: str
    run_id: str
    task_id: str
    try_number: int = 1
    max_tries: int = 0
    map_index: int = -1
    logical_date: dt.datetime | None = None
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    run_type: str = "manual"
    conf: dict[str, Any] = field(default_factory=dict)

    def as_mapping(self) -> dict[str, Any]:
        """The keys ``task_context.build_context`` reads."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "max_tries": self.max_tries,
            "map_index": self.map_index,
            "logical_date": self.logical_date,
            "data_interval_start": self.data_interval_start,
            "data_interval_end": self.data_interval_end,
            "run_type": self.run_type,
            "conf": self.conf,
        }


@dataclass(frozen=True)
class RuntimeSpec:
    """Everything in the spec file, typed."""

    task: dict[str, Any]
    run: RunContext
    dag_module: str | None
    """Module name the DAG file is imported under (``dag.json`` ``source_module``)."""
    dag_source_file: str | None
    """The DAG source materialized for this try, or ``None`` to import ``dag_module`` from the
    DAG folder (an image that carries the file)."""
    dag_dir: str | None
    xcom_inputs: dict[str, tuple[XComSource, ...]]

    @property
    def task_type(self) -> str:
        """``python``, ``bash``, ``http_api`` or ``empty``."""
        return str(self.task.get("type", ""))


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def encode(spec: RuntimeSpec) -> str:
    """The file's JSON text."""
    run = spec.run
    return json.dumps(
        {
            "task": spec.task,
            "run": {
                **run.as_mapping(),
                "logical_date": _iso(run.logical_date),
                "data_interval_start": _iso(run.data_interval_start),
                "data_interval_end": _iso(run.data_interval_end),
            },
            "dag": {
                "module": spec.dag_module,
                "source_file": spec.dag_source_file,
                "dag_dir": spec.dag_dir,
            },
            "xcom_inputs": {
                param: [{"task_id": s.task_id, "key": s.key} for s in sources]
                for param, sources in spec.xcom_inputs.items()
            },
        },
        ensure_ascii=False,
    )


def decode(text: str) -> RuntimeSpec:
    """Parse the file written by ``encode``."""
    data = json.loads(text)
    run = data["run"]
    dag = data.get("dag") or {}
    return RuntimeSpec(
        task=dict(data["task"]),
        run=RunContext(
            dag_id=run["dag_id"],
            run_id=run["run_id"],
            task_id=run["task_id"],
            try_number=int(run.get("try_number") or 1),
            max_tries=int(run.get("max_tries") or 0),
            map_index=int(run.get("map_index", -1)),
            logical_date=_parse_time(run.get("logical_date")),
            data_interval_start=_parse_time(run.get("data_interval_start")),
            data_interval_end=_parse_time(run.get("data_interval_end")),
            run_type=str(run.get("run_type") or "manual"),
            conf=dict(run.get("conf") or {}),
        ),
        dag_module=dag.get("module") or None,
        dag_source_file=dag.get("source_file") or None,
        dag_dir=dag.get("dag_dir") or None,
        xcom_inputs={
            param: tuple(
                XComSource(s["task_id"], s.get("key") or RETURN_VALUE_KEY) for s in sources
            )
            for param, sources in (data.get("xcom_inputs") or {}).items()
        },
    )
