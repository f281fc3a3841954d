"""The BaseOperator arguments Leoflow honours, tolerates at their defaults, or refuses.

A DAG file may pass any BaseOperator argument. The ones in ``dag.json`` are honoured; the ones
whose Airflow default means "nothing special" are accepted only at that default; everything
else is a compile error, so an argument is never dropped while the user expects its effect.
"""

from __future__ import annotations

from typing import Any

from .convert import flag, seconds
from .errors import InvalidDagError, NotSupportedError
from .trigger_rule import SUPPORTED, TriggerRule

DAG_LEVEL_DEFAULTS = frozenset(
    {"retries", "retry_delay", "retry_exponential_backoff", "execution_timeout"}
)
"""``default_args`` keys that ``dag.json`` keeps at DAG level (``default_args``)."""

DOCUMENTATION = frozenset(
    {"doc", "doc_md", "doc_rst", "doc_json", "doc_yaml", "task_display_name", "owner"}
)
"""Descriptive arguments: they change nothing about how the task runs. The ``doc*`` ones become
the task's ``doc_md``; ``owner`` is read at DAG level (``default_args``)."""

_AT_DEFAULT: dict[str, tuple[Any, ...]] = {
    "depends_on_past": (False, None),
    "wait_for_downstream": (False, None),
    "ignore_first_depends_on_past": (True, None),
    "wait_for_past_depends_before_skipping": (False, None),
    "pool": (None, "default_pool"),
    "pool_slots": (1, None),
    "priority_weight": (1, None),
    "weight_rule": ("downstream", None),
    "queue": (None, "default"),
    "max_active_tis_per_dag": (None,),
    "max_active_tis_per_dagrun": (None,),
    "task_concurrency": (None,),
    "do_xcom_push": (True, None),
    "max_retry_delay": (None,),
    "run_as_user": (None,),
    "executor": (None,),
    "executor_config": (None, {}),
    "inlets": (None, [], ()),
    "outlets": (None, [], ()),
    "resources": (None,),
    "sla": (None,),
    "map_index_template": (None,),
    "allow_nested_operators": (True, None),
    "params": (None, {}),
    "on_execute_callback": (None, [], ()),
    "on_failure_callback": (None, [], ()),
    "on_success_callback": (None, [], ()),
    "on_retry_callback": (None, [], ()),
    "on_skipped_callback": (None, [], ()),
    "email_on_failure": (True, False, None),
    "email_on_retry": (True, False, None),
    "start_date": (None,),
    "end_date": (None,),
}


def _check_email(args: dict[str, Any]) -> None:
    if not args.get("email"):
        return
    if args.get("email_on_failure", True) or args.get("email_on_retry", True):
        raise NotSupportedError("email notifications (email with email_on_failure/email_on_retry)")


def _trigger_rule(value: Any) -> str:
    rule = value.value if isinstance(value, TriggerRule) else str(value)
    if not TriggerRule.is_valid(rule):
        raise InvalidDagError(
            f"trigger_rule {rule!r} is not an Airflow trigger rule",
            f"use one of {', '.join(sorted(SUPPORTED))}",
        )
    if rule not in SUPPORTED:
        raise NotSupportedError(f"trigger_rule '{rule}'")
    return rule


def _check_tolerated(name: str, value: Any) -> None:
    if name not in _AT_DEFAULT:
        raise InvalidDagError(
            f"unknown operator argument {name!r}", "remove it or check its spelling"
        )
    if not any(
        value is ok or (value == ok and type(value) is type(ok)) for ok in _AT_DEFAULT[name]
    ):
        raise NotSupportedError(f"{name}={value!r}")


def task_settings(args: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The honoured settings of one task, in ``dag.json`` names; refuses what cannot be kept."""
    _check_email(args)
    out: dict[str, Any] = {}
    for name, value in args.items():
        if name == "retries":
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise InvalidDagError(
                        f"retries of task '{task_id}' is {value!r}", "pass a whole number >= 0"
                    )
                out["retries"] = value
        elif name == "retry_delay":
            out["retry_delay_seconds"] = seconds(value, f"retry_delay of task '{task_id}'")
        elif name == "execution_timeout":
            out["execution_timeout_seconds"] = seconds(
                value, f"execution_timeout of task '{task_id}'"
            )
        elif name == "retry_exponential_backoff":
            out["retry_exponential_backoff"] = flag(
                value, f"retry_exponential_backoff of task '{task_id}'"
            )
        elif name == "trigger_rule":
            out["trigger_rule"] = _trigger_rule(value)
        elif name in DOCUMENTATION or name in {"email", "email_on_failure", "email_on_retry"}:
            continue
        else:
            _check_tolerated(name, value)
    return {key: value for key, value in out.items() if value is not None}
