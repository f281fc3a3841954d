"""``airflow.operators.branch``: not supported yet (branching (BaseBranchOperator))."""

from __future__ import annotations

from .._leoflow.unsupported import refuse_module

refuse_module("branching (BaseBranchOperator)")
