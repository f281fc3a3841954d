"""The ``dag.json`` and ``leoflow.yaml`` contracts, as strict pydantic models.

This package is the single definition of both documents (DESIGN §5, ADR 0004): the compiler
builds a ``DagSpec``, the API stores it (deduplicated by ``spec_hash``), the scheduler plans
from it, and the JSON Schemas in ``docs/schemas`` are exported from it. Every model refuses
unknown keys, and every error is a ``SpecError`` whose ``problems`` name the location, the
problem and the fix.
"""

from leoflow.spec.dag_json import dag_spec_from_data, dump_dag_json, load_dag_json
from leoflow.spec.dag_spec import SCHEMA_VERSION, DagSpec, DefaultArgs, PythonEnvironment
from leoflow.spec.errors import SpecError
from leoflow.spec.hashing import canonical_json, spec_hash
from leoflow.spec.kubernetes import Execution, ResourceList, Resources, Staging, Toleration
from leoflow.spec.project_yaml import (
    BuildConfig,
    Defaults,
    LeoflowYaml,
    TaskOverride,
    check_task_overrides,
    load_leoflow_yaml,
)
from leoflow.spec.quantities import parse_quantity
from leoflow.spec.schedules import PRESET_CRON, PRESETS, IntervalSchedule, cron_of
from leoflow.spec.task_spec import ExecutionMode, HttpRequest, TaskSpec, TaskType, TriggerRule
from leoflow.spec.xcom import XCOM_RETURN_KEY, XcomPull, XcomRef

__all__ = [
    "PRESETS",
    "PRESET_CRON",
    "SCHEMA_VERSION",
    "XCOM_RETURN_KEY",
    "BuildConfig",
    "DagSpec",
    "DefaultArgs",
    "Defaults",
    "Execution",
    "ExecutionMode",
    "HttpRequest",
    "IntervalSchedule",
    "LeoflowYaml",
    "PythonEnvironment",
    "ResourceList",
    "Resources",
    "SpecError",
    "Staging",
    "TaskOverride",
    "TaskSpec",
    "TaskType",
    "Toleration",
    "TriggerRule",
    "XcomPull",
    "XcomRef",
    "canonical_json",
    "check_task_overrides",
    "cron_of",
    "dag_spec_from_data",
    "dump_dag_json",
    "load_dag_json",
    "load_leoflow_yaml",
    "parse_quantity",
    "spec_hash",
]
