"""``airflow.providers.standard.operators.datetime``:
not supported yet (branching (BranchDateTimeOperator)).
"""

from __future__ import annotations

from ...._leoflow.unsupported import refuse_module

refuse_module("branching (BranchDateTimeOperator)")
