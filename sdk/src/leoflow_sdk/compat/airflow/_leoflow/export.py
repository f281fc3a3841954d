"""The recorded DAGs as JSON-ready dicts, in ``dag.json`` field names.

Where the DAG and each task were defined goes under ``extras`` (not part of ``dag.json``), so
the compiler can point at the user's line.
"""

from __future__ import annotations

from typing import Any

from . import context
from .baseoperator import BaseOperator
from .dag import DAG


def export_task(task: BaseOperator) -> dict[str, Any]:
    """One task: type-specific fields, settings, edges (declaration order) and documentation."""
    out = task.record()
    out["depends_on"] = list(task.upstream)
    out.update(task.settings)
    out["doc_md"] = task.doc_md
    out["extras"] = {"line": task.location[1]}
    return out


def export_dag(dag: DAG) -> dict[str, Any]:
    """One DAG with its tasks in creation order."""
    out = dag.record()
    out["tasks"] = [export_task(task) for task in dag.tasks]
    out["extras"] = {"file": dag.location[0], "line": dag.location[1]}
    return out


def export_all() -> list[dict[str, Any]]:
    """Every DAG created so far, in creation order."""
    return [export_dag(dag) for dag in context.created_dags]
