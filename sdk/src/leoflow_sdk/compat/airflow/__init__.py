"""Leoflow's Airflow 3 compatibility shim, importable as ``airflow`` only when put on sys.path.

It records DAG structure while a DAG file is compiled (no task body runs) and serves the same
names when the task runs, so a DAG that compiles also imports in its task. Airflow features
Leoflow does not run yet fail with ``not supported by Leoflow yet: <what>, at <file>:<line>``.
"""

from __future__ import annotations

from ._leoflow.dag import DAG
from ._leoflow.unsupported import install_finder, module_getattr

__version__ = "3.0.0"
"""The Airflow version whose authoring semantics this shim follows."""

install_finder()

__getattr__ = module_getattr("airflow", {"Dataset": "asset/dataset schedules (Dataset)"})

__all__ = ["DAG", "__version__"]
