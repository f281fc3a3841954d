"""The recorded DAGs as JSON-ready dicts, in ``dag.json`` field names.

Keys outside the ``dag.json`` schema are grouped under ``extras`` (documentation, BashOperator
``cwd``/``append_env``, where the DAG was defined) so the compiler decides how to carry them.
"""

from __future__ import annotations

from typing import Any

from . import context
from .baseoperator import BaseOperator
from .dag import DAG


def export_task(task: BaseOperator) -> dict[str, Any]:
    """One task: type-specific fields, settings, edges (declaration order) and extras."""
    out = task.record()
    extras: dict[str, Any] = {"line": task.location[1]}
    if "bash" in out:
        extras["bash"] = out.pop("bash")
    if task.doc_md:
        extras["doc_md"] = task.doc_md
    out["depends_on"] = list(task.upstream)
    out.update(task.settings)
    out["extras"] = extras
    return out


def export_dag(dag: DAG) -> dict[str, Any]:
    """One DAG with its tasks in creation order."""
    out = dag.record()
    out["tasks"] = [export_task(task) for task in dag.tasks]
    out["extras"] = {"doc_md": dag.doc_md, "file": dag.location[0], "line": dag.location[1]}
    return out


def export_all() -> list[dict[str, Any]]:
    """Every DAG created so far, in creation order."""
    return [export_dag(dag) for dag in context.created_dags]
