"""``airflow.providers.standard.operators.python``: PythonOperator (branching variants refused)."""

from __future__ import annotations

from ...._leoflow.operators import PythonOperator
from ...._leoflow.unsupported import module_getattr

__getattr__ = module_getattr(
    "airflow.providers.standard.operators.python",
    {
        "BranchPythonOperator": "branching (BranchPythonOperator)",
        "ShortCircuitOperator": "short-circuiting (ShortCircuitOperator)",
        "PythonVirtualenvOperator": "PythonVirtualenvOperator",
        "ExternalPythonOperator": "ExternalPythonOperator",
        "BranchExternalPythonOperator": "branching (BranchExternalPythonOperator)",
        "BranchPythonVirtualenvOperator": "branching (BranchPythonVirtualenvOperator)",
        "get_current_context": "get_current_context() at DAG definition time",
    },
)

__all__ = ["PythonOperator"]
