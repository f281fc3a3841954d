"""Finding the DAG projects of a Lite workspace and refusing duplicate DAG ids.

Every folder (depth ≤ 5 below the root, skipping hidden folders, ``.venv``, ``venv`` and
``__pycache__``) that holds a ``dag.py`` or ``dag.yaml`` is one project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from leoflow.compiler.errors import CompileError
from leoflow.compiler.extract import DEFAULT_TIMEOUT_SECONDS
from leoflow.compiler.project import DAG_SOURCES, CompileResult, compile_project

MAX_DEPTH = 5
_SKIPPED = frozenset({".venv", "venv", "__pycache__", "node_modules"})


def scan_workspace(root: Path, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Project folders under ``root`` (``root`` itself included), sorted by path."""
    projects: list[Path] = []
    root = root.resolve()
    for current, dirs, files in os.walk(root):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIPPED and depth < max_depth
        )
        if any(name in files for name in DAG_SOURCES):
            projects.append(here)
    return sorted(projects)


@dataclass
class WorkspaceCompilation:
    """Every project of a workspace: compiled ones, and the error of each that failed."""

    compiled: dict[Path, CompileResult] = field(default_factory=dict)
    failed: dict[Path, CompileError] = field(default_factory=dict)


def check_unique_dag_ids(compiled: dict[Path, CompileResult]) -> None:
    """``CompileError`` naming both folders when two projects define the same dag_id."""
    seen: dict[str, Path] = {}
    problems = []
    for path, result in sorted(compiled.items()):
        dag_id = result.spec.dag_id
        if dag_id in seen:
            problems.append(
                f"dag_id '{dag_id}' is defined by both {seen[dag_id]} and {path}; rename one"
            )
        else:
            seen[dag_id] = path
    if problems:
        raise CompileError("select", problems)


def compile_workspace(
    root: Path, *, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> WorkspaceCompilation:
    """Compile every project under ``root``; a duplicate dag_id fails the whole workspace."""
    result = WorkspaceCompilation()
    for project in scan_workspace(root):
        try:
            result.compiled[project] = compile_project(project, timeout=timeout)
        except CompileError as exc:
            result.failed[project] = exc
    check_unique_dag_ids(result.compiled)
    return result
