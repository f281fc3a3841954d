"""``airflow.providers.standard.operators.weekday``:
not supported yet (branching (BranchDayOfWeekOperator)).
"""

from __future__ import annotations

from ...._leoflow.unsupported import refuse_module

refuse_module("branching (BranchDayOfWeekOperator)")
