"""``airflow.operators.python``: PythonOperator, get_current_context (branching refused)."""

from __future__ import annotations

from .._leoflow.operators import PythonOperator
from .._leoflow.task_context import get_current_context
from .._leoflow.unsupported import module_getattr

__getattr__ = module_getattr(
    "airflow.operators.python",
    {
        "BranchPythonOperator": "branching (BranchPythonOperator)",
        "ShortCircuitOperator": "short-circuiting (ShortCircuitOperator)",
        "PythonVirtualenvOperator": "PythonVirtualenvOperator",
        "ExternalPythonOperator": "ExternalPythonOperator",
        "BranchExternalPythonOperator": "branching (BranchExternalPythonOperator)",
        "BranchPythonVirtualenvOperator": "branching (BranchPythonVirtualenvOperator)",
    },
)

__all__ = ["PythonOperator", "get_current_context"]
