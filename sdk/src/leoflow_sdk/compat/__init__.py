"""Airflow compatibility layer: where the ``airflow`` shim lives and how to put it on sys.path.

The shim is the package directory ``compat/airflow``. It is importable as ``airflow`` only when
this folder is put on ``sys.path`` (never installed as a top-level ``airflow``), so a real Apache
Airflow installed elsewhere is never shadowed. Compile time and task run time use the same shim,
so a DAG that compiles also imports in its task.
"""

from __future__ import annotations

from pathlib import Path

SHIM_PARENT = Path(__file__).resolve().parent
"""The folder to put on ``sys.path`` so that ``import airflow`` finds the shim."""

FALLBACK_DIR = SHIM_PARENT / "_fallback"
"""Minimal stand-ins (``pendulum``) appended at the *end* of ``sys.path``: used only when the
real package is not installed, so DAG files written for Airflow import without it."""


def shim_sys_path(dag_folder: Path) -> list[str]:
    """The ``sys.path`` prefix a DAG process needs: its own folder first, then the shim."""
    return [str(dag_folder), str(SHIM_PARENT)]


__all__ = ["FALLBACK_DIR", "SHIM_PARENT", "shim_sys_path"]
